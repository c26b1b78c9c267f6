import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { BerthError, ConflictError, UnsupportedError } from '@berth/image-format';
import type { RuntimeDriver } from '@berth/runtime';
import type { ContainerWaitResponse, WaitCondition } from '../docker-types.js';
import { mountRequests, normaliseSignal } from '../container-config.js';
import type { StopOptions } from '../services.js';
import type { AttachSessions } from './attach.js';
import { prepareBindSources } from './bind-sources.js';
import { containerSpec } from './container-spec.js';
import { isActive, isRunning, withTimeout, type ContainerContext } from './context.js';
import type { Execs } from './exec.js';
import type { ContainerFilesystem } from './filesystem.js';
import { HealthMonitor } from './health.js';
import { findInitBinary } from './init-binary.js';
import { resolveLinks } from './links.js';
import { logLimitsOf } from './log-config.js';
import { resolvedPorts } from './port-allocation.js';
import { pidNamespaceOf } from './pid-mode.js';
import { runtimeIdOf, type ContainerRecord } from './record.js';
import { RestartScheduler } from './restart-policy.js';
import { Waiters } from './waiters.js';

/** How a run ended, as the record keeps it. */
interface RunExit {
  exitCode: number;
  oomKilled: boolean;
  finishedAt: string;
}

/**
 * A container's runs: start (the driver creates a fresh run each time), watching for the
 * exit, stop/kill/restart/pause, removal, and what follows an exit (auto-remove, restart
 * policy, waiters).
 */
export class Lifecycle {
  readonly waiters = new Waiters();
  readonly health: HealthMonitor;
  readonly restarts: RestartScheduler;
  /** Runs (driver ids) whose exit is being waited for. */
  private readonly watching = new Set<string>();
  /** Containers whose exited run is giving its network back, by container id. */
  private readonly releasing = new Map<string, Promise<void>>();

  constructor(
    private readonly ctx: ContainerContext,
    private readonly parts: { attach: AttachSessions; execs: Execs; filesystem: ContainerFilesystem },
  ) {
    this.health = new HealthMonitor(ctx);
    this.restarts = new RestartScheduler(ctx, (r) => this.launch(r));
  }

  start(ref: string): Promise<{ started: boolean }> {
    const r = this.ctx.table.resolve(ref);
    return this.ctx.serial(r.id, async () => {
      const cur = this.ctx.table.resolve(r.id);
      if (isRunning(cur)) return { started: false };
      cur.manuallyStopped = false;
      this.restarts.cancel(cur.id);
      await this.launch(cur);
      return { started: true };
    });
  }

  /** Creates the run in the driver and starts it; the record must not be running. */
  async launch(r: ContainerRecord): Promise<void> {
    const { table, driver, deps } = this.ctx;
    await this.networkReleased(r.id);
    if (r.runtimeCreated) {
      // the log is the container's (logPath): the next run continues it
      await driver.delete(runtimeIdOf(r), { force: true }).catch(() => undefined);
      r.runtimeCreated = false;
    }
    r.runs = (r.runs ?? 0) + 1;
    r.runtimeId = r.runs === 1 ? r.id : `${r.id}-${r.runs}`;
    const rootfs = await deps.snapshots.mounts(r.snapshotKey);
    if (r.copyUp.length > 0) await this.parts.filesystem.copyUp(r, rootfs);
    await prepareBindSources(mountRequests(r.config, r.hostConfig), { create: true });
    const initBinary = r.hostConfig.Init ? await findInitBinary(deps.initPath) : undefined;
    // legacy links live on the default bridge only (on user networks the embedded DNS serves names)
    const links = (r.hostConfig.NetworkMode || 'bridge') === 'bridge' ? resolveLinks(r, (n) => table.byName(n)) : { env: [], hosts: [] };
    try {
      const pidNamespace = pidNamespaceOf(r.hostConfig, table);
      const spec = containerSpec(r, {
        runtimeId: runtimeIdOf(r),
        rootfs,
        // host port 0 is the network driver's to pick: it holds the one port allocator
        ports: r.ports,
        ...(initBinary !== undefined ? { initBinary } : {}),
        links,
        defaultDns: deps.defaultDns ?? [],
        ...logLimitsOf(r, deps.logLimits),
        engineRoot: deps.root,
        ...(pidNamespace !== undefined ? { pidNamespaceOf: pidNamespace } : {}),
      });
      const created = await driver.create(spec);
      r.runtimeCreated = true;
      r.logPath = created.logPath ?? r.logPath;
      r.ports = resolvedPorts(r.ports, created.ports);
      table.save(r);
      await this.parts.attach.connectPending(r);
      await driver.start(runtimeIdOf(r));
      const { pid = 0 } = await driver.state(runtimeIdOf(r));
      r.state = { ...r.state, status: 'running', pid, error: '', oomKilled: false, startedAt: new Date().toISOString(), finishedAt: r.state.finishedAt };
      table.save(r);
    } catch (err) {
      r.state = { ...r.state, status: r.state.startedAt ? 'exited' : 'created', error: (err as Error).message, exitCode: r.state.startedAt ? r.state.exitCode || 128 : 0 };
      if (r.runtimeCreated) {
        await driver.delete(runtimeIdOf(r), { force: true }).catch(() => undefined);
        r.runtimeCreated = false;
      }
      if (table.get(r.id)) table.save(r);
      if (!this.restarts.willRestart(r)) this.parts.attach.endPending(r.id);
      throw startError(r, err);
    }
    if (deps.afterStart) await deps.afterStart(r).then(() => table.save(r)).catch(() => undefined);
    this.ctx.emit(r, 'start');
    this.watch(r.id);
    this.health.start(r);
  }

  /** Watches the driver for the exit of the container's current run, once per run. */
  watch(id: string): void {
    const r = this.ctx.table.get(id);
    if (!r) return;
    const runtimeId = runtimeIdOf(r);
    if (this.watching.has(runtimeId)) return;
    this.watching.add(runtimeId);
    waitExit(this.ctx.driver, runtimeId).then(
      (exit) => {
        this.watching.delete(runtimeId);
        // a closed engine's database is closed too: the next one reconciles this exit
        if (this.ctx.closed) return;
        const cur = this.ctx.table.get(id);
        // An exit of an earlier run (its watcher outlived a restart) is not news.
        if (cur && runtimeIdOf(cur) === runtimeId) void this.onExit(id, exit);
      },
      () => {
        this.watching.delete(runtimeId);
      },
    );
  }

  private async onExit(id: string, exit: RunExit): Promise<void> {
    this.health.stop(id);
    const r = this.ctx.table.get(id);
    if (!r) return;
    r.state = { ...r.state, status: 'exited', pid: 0, exitCode: exit.exitCode, oomKilled: exit.oomKilled, finishedAt: exit.finishedAt };
    this.ctx.table.save(r);
    this.releaseNetwork(r);
    // As dockerd (Cleanup before the exit is reported): `wait` and `run --rm` answer with
    // the run's host ports, their rules, addresses and names given back, so the next
    // `run -p` on the same port finds it free. The driver drops the namespace after; the
    // rest of an auto-removed run (runtime state, rootfs) goes after the removal is answered.
    await this.networkReleased(id);
    if (exit.oomKilled) this.ctx.emit(r, 'oom');
    this.ctx.emit(r, 'die', { exitCode: String(exit.exitCode) });
    this.waiters.notify(id, 'exit', { StatusCode: exit.exitCode });
    if (r.hostConfig.AutoRemove) {
      await this.remove(id, { force: true, volumes: true }, { releaseInBackground: true }).catch(() => undefined);
      return;
    }
    this.restarts.afterExit(r);
  }

  stop(ref: string, opts: StopOptions = {}): Promise<{ stopped: boolean }> {
    const r = this.ctx.table.resolve(ref);
    return this.ctx.serial(r.id, () => this.stopLocked(r.id, opts));
  }

  private async stopLocked(id: string, opts: StopOptions): Promise<{ stopped: boolean }> {
    const { table, driver } = this.ctx;
    const r = table.resolve(id);
    this.restarts.cancel(id);
    if (r.state.status === 'restarting') {
      r.state.status = 'exited';
      r.manuallyStopped = true;
      table.save(r);
      await this.networkReleased(id);
      return { stopped: true };
    }
    if (!isRunning(r)) {
      await this.networkReleased(id);
      if (opts.release) await this.releaseRun(id);
      return { stopped: false };
    }
    r.manuallyStopped = true;
    table.save(r);
    const signal = normaliseSignal(opts.signal || r.config.StopSignal);
    const timeout = opts.timeout ?? r.config.StopTimeout ?? this.ctx.deps.defaultStopTimeout;
    const exited = this.exitRecorded(id);
    // a frozen process would not handle the stop signal
    if (r.state.status === 'paused') await driver.unpause?.(runtimeIdOf(r)).catch(() => undefined);
    this.ctx.emit(r, 'kill', { signal: eventSignal(signal) });
    await driver.kill(runtimeIdOf(r), signal).catch(() => undefined);
    if (timeout < 0) {
      await exited;
    } else if (!(await withTimeout(exited, timeout * 1000))) {
      this.ctx.emit(r, 'kill', { signal: '9' });
      await driver.kill(runtimeIdOf(r), 'SIGKILL').catch(() => undefined);
      await withTimeout(exited, 30_000);
    }
    await this.networkReleased(id);
    if (opts.release) await this.releaseRun(id);
    const after = table.get(id);
    if (after) this.ctx.emit(after, 'stop');
    return { stopped: true };
  }

  /**
   * As dockerd at every exit (stop, kill, or the process ending on its own): the exited
   * run's namespace, addresses and published host ports go now, not at the next start or
   * removal, so another container can take them; the run's log stays. The next start
   * creates a fresh run. Not under the container's lock: a stop holding it waits for this
   * exit (then for networkReleased).
   */
  private releaseNetwork(r: ContainerRecord): void {
    if (!r.runtimeCreated || !this.ctx.driver.releaseNetwork) return;
    const released = this.ctx.driver.releaseNetwork(runtimeIdOf(r)).catch(() => undefined).finally(() => {
      if (this.releasing.get(r.id) === released) this.releasing.delete(r.id);
    });
    this.releasing.set(r.id, released);
  }

  /** Resolves once the last exit's network release (if any) is done. */
  private networkReleased(id: string): Promise<void> {
    return this.releasing.get(id) ?? Promise.resolve();
  }

  /** Deletes the driver's run of a container that is not running (StopOptions.release). */
  private async releaseRun(id: string): Promise<void> {
    const r = this.ctx.table.get(id);
    if (!r || isRunning(r) || !r.runtimeCreated) return;
    await this.ctx.driver.delete(runtimeIdOf(r), { force: true });
    r.runtimeCreated = false;
    this.ctx.table.save(r);
  }

  /** Resolves when the exit of the current run is recorded (or the container is gone). */
  private exitRecorded(id: string): Promise<void> {
    const r = this.ctx.table.get(id);
    if (!r || !isRunning(r)) return Promise.resolve();
    const recorded = this.waiters.nextExit(id);
    this.watch(id);
    return recorded;
  }

  async kill(ref: string, opts: { signal?: string } = {}): Promise<void> {
    const r = this.ctx.table.resolve(ref);
    const signal = normaliseSignal(opts.signal, 'SIGKILL');
    if (!isRunning(r)) throw new ConflictError(`Cannot kill container: ${ref}: container ${r.id} is not running`);
    r.manuallyStopped = true;
    this.ctx.table.save(r);
    this.ctx.emit(r, 'kill', { signal: eventSignal(signal) });
    const exited = signal === 'SIGKILL' ? this.exitRecorded(r.id) : undefined;
    await this.ctx.driver.kill(runtimeIdOf(r), signal);
    if (exited) {
      await withTimeout(exited, 10_000);
      await this.networkReleased(r.id);
    }
  }

  async restart(ref: string, opts: StopOptions = {}): Promise<void> {
    const r = this.ctx.table.resolve(ref);
    await this.ctx.serial(r.id, async () => {
      await this.stopLocked(r.id, opts);
      const cur = this.ctx.table.resolve(r.id);
      cur.manuallyStopped = false;
      await this.launch(cur);
    });
    this.ctx.emit(this.ctx.table.resolve(r.id), 'restart');
  }

  async pause(ref: string): Promise<void> {
    const r = this.ctx.table.resolve(ref);
    if (r.state.status === 'paused') throw new ConflictError(`Container ${r.id} is already paused`);
    if (r.state.status !== 'running') throw new ConflictError(`Container ${r.id} is not running`);
    await this.pauser().pause(runtimeIdOf(r));
    r.state.status = 'paused';
    this.ctx.table.save(r);
    this.ctx.emit(r, 'pause');
  }

  async unpause(ref: string): Promise<void> {
    const r = this.ctx.table.resolve(ref);
    if (r.state.status !== 'paused') throw new ConflictError(`Container ${r.id} is not paused`);
    await this.pauser().unpause(runtimeIdOf(r));
    r.state.status = 'running';
    this.ctx.table.save(r);
    this.ctx.emit(r, 'unpause');
  }

  private pauser(): Required<Pick<RuntimeDriver, 'pause' | 'unpause'>> {
    const d = this.ctx.driver;
    if (!d.pause || !d.unpause) throw new UnsupportedError(`the ${d.name} runtime cannot pause containers`);
    return { pause: (id) => d.pause!(id), unpause: (id) => d.unpause!(id) };
  }

  wait(ref: string, condition: WaitCondition = 'not-running', signal?: AbortSignal): Promise<ContainerWaitResponse> {
    let r: ContainerRecord;
    try {
      r = this.ctx.table.resolve(ref);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.waiters.wait(r, condition, signal);
  }

  /**
   * `releaseInBackground` (auto-remove): once the container has exited, its record and
   * anonymous volumes go and `removed` is reported; the runtime state, the rootfs snapshot
   * and its directory are released right after, in the background.
   */
  async remove(ref: string, opts: { force?: boolean; volumes?: boolean } = {}, how: { releaseInBackground?: boolean } = {}): Promise<void> {
    const { table, driver, deps } = this.ctx;
    const r = table.resolve(ref);
    await this.ctx.serial(r.id, async () => {
      const cur = table.get(r.id);
      if (!cur) return;
      this.restarts.cancel(cur.id);
      if (isActive(cur)) {
        if (!opts.force) {
          throw new ConflictError(
            cur.state.status === 'paused'
              ? `cannot remove container "/${cur.name}": container is paused and must be unpaused first`
              : `cannot remove container "/${cur.name}": container is running: stop the container before removing or force remove`,
          );
        }
        if (cur.state.status !== 'restarting') {
          cur.manuallyStopped = true;
          table.save(cur);
          const exited = this.exitRecorded(cur.id);
          if (cur.state.status === 'paused') await driver.unpause?.(runtimeIdOf(cur)).catch(() => undefined);
          await driver.kill(runtimeIdOf(cur), 'SIGKILL').catch(() => undefined);
          await withTimeout(exited, 15_000);
        }
      }
      const fresh = table.get(cur.id) ?? cur;
      fresh.state.status = 'removing';
      table.save(fresh);
      const release = async (): Promise<void> => {
        await this.networkReleased(fresh.id);
        if (fresh.runtimeCreated) await driver.delete(runtimeIdOf(fresh), { force: true }).catch(() => undefined);
        await deps.snapshots.remove(fresh.snapshotKey).catch(() => undefined);
        await rm(join(deps.root, 'containers', fresh.id), { recursive: true, force: true });
      };
      const background = how.releaseInBackground === true && deps.releases !== undefined && !this.ctx.closed;
      if (!background) await release();
      table.delete(fresh.id);
      if (background) deps.releases!.track(release());
      this.parts.execs.forget(fresh.id);
      if (opts.volumes) {
        for (const v of fresh.anonymousVolumes) {
          if (volumeUsers(this.ctx, v).length === 0) await deps.volumes.remove(v).catch(() => undefined);
        }
      }
      this.parts.attach.endPending(fresh.id);
      this.health.stop(fresh.id);
      this.ctx.emit(fresh, 'destroy');
      this.waiters.notify(fresh.id, 'removed', { StatusCode: fresh.state.exitCode });
    });
  }

  close(): void {
    this.health.close();
    this.restarts.close();
    this.waiters.close();
  }
}

/** A failed start in Docker's words. */
function startError(r: ContainerRecord, err: unknown): BerthError {
  // dockerd answers a taken host port with a 500 naming the endpoint
  if (err instanceof ConflictError && /port is already allocated/.test(err.message)) {
    return new BerthError('Internal', `driver failed programming external connectivity on endpoint ${r.name} (${r.id}): ${err.message}`, { cause: err });
  }
  return err instanceof BerthError ? err : new BerthError('Internal', `failed to start container ${r.id.slice(0, 12)}: ${(err as Error).message}`, { cause: err });
}

/** Container IDs that mount volume `name`. */
export function volumeUsers(ctx: ContainerContext, name: string): string[] {
  return ctx.table.all().filter((r) => r.mounts.some((m) => m.Type === 'volume' && m.Name === name)).map((r) => r.id);
}

/** The run's exit with the time it ended (the driver's, else now). */
async function waitExit(driver: RuntimeDriver, runtimeId: string): Promise<RunExit> {
  const exit = await driver.wait(runtimeId);
  const st = await driver.state(runtimeId).catch(() => undefined);
  return { exitCode: exit.exitCode, oomKilled: exit.oomKilled, finishedAt: st?.finishedAt ?? new Date().toISOString() };
}

const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGUSR1: 10, SIGUSR2: 12, SIGTERM: 15, SIGSTOP: 19, SIGCONT: 18, SIGWINCH: 28 };

/** A kill event's `signal` attribute: the number, as Docker's events show it. */
function eventSignal(sig: string): string {
  return /^\d+$/.test(sig) ? sig : String(SIGNALS[sig] ?? sig);
}
