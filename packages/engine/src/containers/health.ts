import type { ContainerHealth, HealthConfig, HealthcheckResult } from '../docker-types.js';

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
