import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ConflictError } from '@berth/image-format';
import { signalNumber, type ContainerState, type DeleteOptions, type ExitStatus } from '@berth/runtime';
import { isFrozen, setFrozen } from '../cgroups/freezer.js';
import { removeCgroup } from '../cgroups/layout.js';
import { launchConmon } from '../conmon/launch.js';
import { removeLogFiles } from '../conmon/log-files.js';
import { deleteExitedContainer, runRuntime, startContainerProcess } from '../oci/runtime.js';
import { unmountRootfs } from '../rootfs/mount.js';
import type { DriverContext } from './context.js';
import { now, pidAlive, toState, type ContainerRecord } from './records.js';

async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

export async function startContainer(ctx: DriverContext, id: string): Promise<void> {
  let rec = await ctx.records.current(id);
  if (rec.status === 'running') throw new ConflictError(`container ${id} is already running`);
  if (rec.status === 'stopped' && rec.networkReleased) throw new ConflictError(`container ${id} gave its network back when it stopped: create it afresh`);
  if (rec.status === 'stopped' && rec.pause) throw new ConflictError(`container ${id} held a pod's namespaces, which went with its pause process: create it afresh`);
  if (rec.status === 'stopped') rec = await recreate(ctx, rec);
  // the driver's pause runs from its create on: nothing waits for a start
  if (!rec.pause) await startContainerProcess(ctx.runtime, id);
  const updated: ContainerRecord = { ...(await ctx.records.load(id)), status: 'running', startedAt: now() };
  await ctx.records.save(updated);
  ctx.logs.watch(updated);
  ctx.emit('start', id);
}

/**
 * Runs a stopped container again (restart, restart policies): the runtime forgets
 * the old process, a new conmon creates it from the same bundle; the log continues.
 */
async function recreate(ctx: DriverContext, rec: ContainerRecord): Promise<ContainerRecord> {
  await runRuntime(ctx.runtime, ['delete', '--force', rec.id]).catch(() => undefined);
  await removeCgroup(ctx.cgroups, rec.cgroupsPath);
  await rm(join(ctx.exitDir, rec.id), { force: true });
  await rm(join(rec.bundle, 'persist', 'oom'), { force: true });
  const started = await launchConmon({
    conmonPath: ctx.conmonPath,
    runtime: ctx.runtime,
    id: rec.id,
    bundle: rec.bundle,
    logPath: rec.logPath,
    exitDir: ctx.exitDir,
    socketDir: ctx.socketDir,
    persistDir: join(rec.bundle, 'persist'),
    tty: rec.tty,
    stdin: rec.stdin,
    leaveStdinOpen: rec.keepStdinOpen === true,
  });
  const next: ContainerRecord = { ...rec, status: 'created', pid: started.pid, conmonPid: started.conmonPid };
  delete next.exitCode;
  delete next.oomKilled;
  delete next.finishedAt;
  await ctx.records.save(next);
  return next;
}

/** The freezer is the truth (whoever froze it): a cgroup read, only while running. */
export async function stateWithPaused(ctx: DriverContext, rec: ContainerRecord): Promise<ContainerState> {
  const st = toState(rec);
  if (st.status === 'running' && (await isFrozen(ctx.cgroups, rec.cgroupsPath))) st.paused = true;
  return st;
}

export async function setPaused(ctx: DriverContext, id: string, paused: boolean): Promise<void> {
  const rec = await ctx.records.current(id);
  if (rec.status !== 'running') throw new ConflictError(`container ${id} is not running`);
  await setFrozen(ctx.cgroups, rec.cgroupsPath, paused);
}

export async function killContainer(ctx: DriverContext, id: string, signal: string | number): Promise<void> {
  const sig = signalNumber(signal);
  const rec = await ctx.records.current(id);
  if (rec.status === 'stopped') return;
  try {
    // What `crun kill` does, without starting a runtime process (~5 ms idle, 100+ ms under
    // load; a pod's stop sends several). The init is conmon's child: its PID is not reused
    // before conmon reaps it, and the refresh above saw no exit file.
    if (rec.pid > 0) process.kill(rec.pid, sig);
    else await runRuntime(ctx.runtime, ['kill', id, String(sig)]);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return;
    const again = await ctx.records.current(id);
    if (again.status === 'stopped') return;
    // crun/runc refuse to signal a created-but-not-started container that is not running
    if (!pidAlive(again.pid)) return;
    throw err;
  }
  // a frozen process never handles its SIGKILL: thaw a paused container so it dies (as docker does)
  if (sig === 9 && rec.status === 'running' && (await isFrozen(ctx.cgroups, rec.cgroupsPath))) {
    await setFrozen(ctx.cgroups, rec.cgroupsPath, false).catch(() => undefined);
  }
}

/** Waits for conmon's exit file (watched, with a backing-off poll in case a change is missed). */
export async function waitContainer(ctx: DriverContext, id: string, options: { signal?: AbortSignal }): Promise<ExitStatus> {
  let rec = await ctx.records.current(id);
  let delay = 20;
  while (rec.status !== 'stopped') {
    options.signal?.throwIfAborted();
    await new Promise<void>((resolve) => {
      const onFile = (file: string) => {
        if (file === id) done();
      };
      const onAbort = () => done();
      const timer = setTimeout(() => done(), delay);
      const done = () => {
        clearTimeout(timer);
        ctx.emitter.off('exit-file', onFile);
        options.signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      ctx.emitter.on('exit-file', onFile);
      options.signal?.addEventListener('abort', onAbort);
    });
    options.signal?.throwIfAborted();
    delay = Math.min(delay * 2, 500);
    rec = await ctx.records.current(id);
  }
  return { exitCode: rec.exitCode ?? 255, oomKilled: rec.oomKilled === true };
}

/** RuntimeDriver.releaseNetwork: the host ports, addresses and names of a stopped run go (its namespace right after); its log stays. */
export async function releaseContainerNetwork(ctx: DriverContext, id: string): Promise<void> {
  const rec = await ctx.records.current(id);
  if (rec.status !== 'stopped') throw new ConflictError(`container ${id} is running: its network stays until it stops`);
  if (!rec.networked || !ctx.options.network) return;
  // ports, addresses and names are free when this returns; the namespace goes after
  await ctx.options.network.detach(id, { deferCleanup: true });
  await ctx.records.save({ ...(await ctx.records.load(id)), networked: false, networkReleased: true });
}

export async function deleteContainer(ctx: DriverContext, id: string, options: DeleteOptions): Promise<void> {
  let rec = await ctx.records.current(id);
  if (rec.status === 'running' || (rec.status === 'created' && pidAlive(rec.pid) && options.force)) {
    if (!options.force && rec.status === 'running') throw new ConflictError(`container ${id} is running: stop it first or force`);
    await killContainer(ctx, id, 'SIGKILL');
    const ctl = new AbortController();
    const t = setTimeout(() => ctl.abort(), 15_000);
    await waitContainer(ctx, id, { signal: ctl.signal }).finally(() => clearTimeout(t));
    rec = await ctx.records.load(id);
  }
  // the container's processes are gone (or never ran): the network can go meanwhile
  const detaching = rec.networked && ctx.options.network
    ? ctx.options.network.detach(id).then(() => undefined, (err: unknown) => ({ err }))
    : undefined;
  if (rec.pause) {
    // no runtime state: the pause is the only process (a created one runs already)
    if (rec.status !== 'stopped' && pidAlive(rec.pid)) process.kill(rec.pid, 'SIGKILL');
  } else {
    if (rec.status === 'created') {
      // never started: kill the runtime's init waiting in the exec fifo
      await runRuntime(ctx.runtime, ['kill', id, '9']).catch(() => undefined);
    }
    if (rec.status !== 'stopped' || !(await deleteExitedContainer(ctx.runtime, id))) {
      await runRuntime(ctx.runtime, ['delete', '--force', id]).catch(() => undefined);
    }
  }
  // conmon exits right after the container; give it a moment, then make sure
  for (let i = 0; i < 50 && pidAlive(rec.conmonPid); i++) await sleep(20);
  if (pidAlive(rec.conmonPid)) {
    try {
      const cmd = await readFile(`/proc/${rec.conmonPid}/cmdline`, 'utf8');
      if (cmd.includes(id)) process.kill(rec.conmonPid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  // the cgroup goes with whatever is left in it (orphans in a pod's shared PID namespace)
  await removeCgroup(ctx.cgroups, rec.cgroupsPath);
  if (rec.mountedRootfs) await unmountRootfs(join(rec.bundle, 'rootfs'));
  const detached = await detaching;
  if (detached) throw detached.err;
  await rm(join(ctx.exitDir, id), { force: true });
  await rm(join(ctx.socketDir, id), { force: true });
  await rm(rec.bundle, { recursive: true, force: true });
  if (!rec.callerLog) await removeLogFiles(rec.logPath);
  ctx.emit('delete', id);
}
