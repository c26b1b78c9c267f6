import type { ContainerContext } from './context.js';
import type { ContainerRecord } from './record.js';
import { TimersById } from './timers.js';

/** Whether an exit of a running container restarts it (Docker's restart manager). */
export function restartsAfterExit(r: ContainerRecord): boolean {
  const p = r.hostConfig.RestartPolicy;
  if (r.manuallyStopped) return false;
  switch (p?.Name) {
    case 'always':
    case 'unless-stopped':
      return true;
    case 'on-failure':
      return r.state.exitCode !== 0 && (!p.MaximumRetryCount || r.restartCount < p.MaximumRetryCount);
    default:
      return false;
  }
}

/**
 * Docker's restore when the daemon starts: `always` restarts even after a user stop,
 * `unless-stopped` unless the user stopped it, `on-failure` while its last run failed
 * and retries remain. Never-started containers stay as they are.
 */
export function restartsAtDaemonStart(r: ContainerRecord): boolean {
  if (r.state.status !== 'exited' || !r.state.startedAt) return false;
  const p = r.hostConfig.RestartPolicy;
  return (
    p?.Name === 'always' ||
    (p?.Name === 'unless-stopped' && !r.manuallyStopped) ||
    (p?.Name === 'on-failure' && !r.manuallyStopped && r.state.exitCode !== 0 && (!p.MaximumRetryCount || r.restartCount < p.MaximumRetryCount))
  );
}

/** Docker's back-off: doubling from 100 ms up to a minute, reset once a run lasted 10 s. */
export function restartDelayMs(r: ContainerRecord): number {
  const ranMs = Date.parse(r.state.finishedAt) - Date.parse(r.state.startedAt);
  return ranMs > 10_000 ? 100 : Math.min(60_000, 100 * 2 ** Math.min(r.restartCount, 10));
}

/** The pending restarts: a container shows `restarting` until its timer launches it again. */
export class RestartScheduler {
  private readonly timers = new TimersById();

  constructor(
    private readonly ctx: ContainerContext,
    /** Launches the container's next run (under its lock); throws when it could not start. */
    private readonly relaunch: (r: ContainerRecord) => Promise<void>,
  ) {}

  /** Whether this exit will be followed by a restart (nothing restarts once the engine closes). */
  willRestart(r: ContainerRecord): boolean {
    return !this.ctx.closed && restartsAfterExit(r);
  }

  /** After an exit: schedules the restart the policy asks for. */
  afterExit(r: ContainerRecord): void {
    if (!this.willRestart(r)) return;
    const { table } = this.ctx;
    r.state.status = 'restarting';
    table.save(r);
    this.timers.set(r.id, restartDelayMs(r), () => {
      this.timers.forget(r.id);
      void this.ctx.serial(r.id, async () => {
        const cur = table.get(r.id);
        if (!cur || cur.state.status !== 'restarting' || this.ctx.closed) return;
        cur.restartCount += 1;
        try {
          await this.relaunch(cur);
          this.ctx.emit(cur, 'restart');
        } catch {
          const again = table.get(r.id);
          if (again) {
            again.state.status = 'exited';
            table.save(again);
          }
        }
      });
    });
  }

  cancel(id: string): void {
    this.timers.cancel(id);
  }

  close(): void {
    this.timers.close();
  }
}
