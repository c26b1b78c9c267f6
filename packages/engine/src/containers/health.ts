import type { ContainerHealth, HealthConfig, HealthcheckResult } from '../docker-types.js';
import type { ContainerContext } from './context.js';
import { runtimeIdOf, type ContainerRecord } from './record.js';
import { TimersById } from './timers.js';

export type HealthLogEntry = HealthcheckResult;

/** Docker's `State.Health`. */
export type HealthState = ContainerHealth;

const NS = 1_000_000;
export const HEALTH_DEFAULTS = { interval: 30_000, timeout: 30_000, startPeriod: 0, retries: 3 };
const MAX_LOG = 5;
const MAX_OUTPUT = 4096;

/** The probe's argv, or undefined when the container has no (or a disabled) health check. */
export function probeArgs(h: HealthConfig | null | undefined): string[] | undefined {
  const test = h?.Test;
  if (!test || test.length === 0 || test[0] === 'NONE') return undefined;
  if (test[0] === 'CMD') return test.slice(1);
  if (test[0] === 'CMD-SHELL') return ['/bin/sh', '-c', test.slice(1).join(' ')];
  return test;
}

/** Docker's durations are nanoseconds; 0 means the default. */
export function healthTimings(h: HealthConfig | null | undefined): typeof HEALTH_DEFAULTS {
  return {
    interval: h?.Interval ? h.Interval / NS : HEALTH_DEFAULTS.interval,
    timeout: h?.Timeout ? h.Timeout / NS : HEALTH_DEFAULTS.timeout,
    startPeriod: h?.StartPeriod ? h.StartPeriod / NS : HEALTH_DEFAULTS.startPeriod,
    retries: h?.Retries ? h.Retries : HEALTH_DEFAULTS.retries,
  };
}

/** Folds one probe result into the health state (failures in the start period do not count, as in Docker). */
export function recordProbe(prev: HealthState, entry: HealthLogEntry, retries: number, inStartPeriod: boolean): HealthState {
  const log = [...prev.Log, { ...entry, Output: entry.Output.slice(0, MAX_OUTPUT) }].slice(-MAX_LOG);
  if (entry.ExitCode === 0) return { Status: 'healthy', FailingStreak: 0, Log: log };
  if (inStartPeriod && prev.Status === 'starting') return { ...prev, Log: log };
  const streak = prev.FailingStreak + 1;
  return { Status: streak >= retries ? 'unhealthy' : prev.Status, FailingStreak: streak, Log: log };
}

/**
 * Runs each running container's HEALTHCHECK with exec every interval while its run
 * lasts, folding results into State.Health and emitting `health_status` on a change.
 */
export class HealthMonitor {
  private readonly timers = new TimersById();

  constructor(private readonly ctx: ContainerContext) {}

  start(r: ContainerRecord): void {
    const { table, driver } = this.ctx;
    this.stop(r.id);
    const args = probeArgs(r.config.Healthcheck);
    if (!args) {
      if (r.state.health) {
        delete r.state.health;
        table.save(r);
      }
      return;
    }
    const timing = healthTimings(r.config.Healthcheck);
    const runtimeId = runtimeIdOf(r);
    const startedAt = Date.now();
    r.state.health = { Status: 'starting', FailingStreak: 0, Log: [] };
    table.save(r);
    // a probe of an earlier run (the container restarted meanwhile) is not recorded
    const currentRun = (): ContainerRecord | undefined => {
      const cur = table.get(r.id);
      return cur && runtimeIdOf(cur) === runtimeId && cur.state.status === 'running' ? cur : undefined;
    };
    const tick = async (): Promise<void> => {
      const cur = currentRun();
      if (!cur || this.ctx.closed) return;
      const start = new Date().toISOString();
      let exitCode = -1;
      let output = '';
      try {
        const probe = await driver.exec(runtimeId, { args, env: cur.config.Env ?? [], tty: false, stdin: false, ...(cur.config.User ? { user: cur.config.User } : {}) });
        const take = (d: Buffer): void => {
          if (output.length < MAX_OUTPUT) output += d.toString();
        };
        probe.stdout.on('data', take);
        probe.stderr.on('data', take);
        const timer = new Promise<number>((res) => setTimeout(() => res(-2), timing.timeout).unref());
        exitCode = await Promise.race([probe.exited, timer]);
        if (exitCode === -2) {
          output = `Health check exceeded timeout (${timing.timeout / 1000}s)`;
          exitCode = -1;
        }
      } catch (err) {
        output = (err as Error).message;
      }
      const now = currentRun();
      if (!now) return;
      const prev: HealthState = now.state.health ?? { Status: 'starting', FailingStreak: 0, Log: [] };
      const next = recordProbe(prev, { Start: start, End: new Date().toISOString(), ExitCode: exitCode, Output: output }, timing.retries, Date.now() - startedAt < timing.startPeriod);
      now.state.health = next;
      table.save(now);
      if (next.Status !== prev.Status) this.ctx.emit(now, `health_status: ${next.Status}`);
      if (this.timers.has(r.id)) this.timers.set(r.id, timing.interval, () => void tick());
    };
    this.timers.set(r.id, timing.interval, () => void tick());
  }

  stop(id: string): void {
    this.timers.cancel(id);
  }

  close(): void {
    this.timers.close();
  }
}
