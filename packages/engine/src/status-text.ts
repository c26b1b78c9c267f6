import { humanDuration } from '@berth/engine-api';

/** Docker's `Status` column of `ps` (moby's State.String). */
export function statusText(s: {
  status: string;
  exitCode: number;
  startedAt?: string | undefined;
  finishedAt?: string | undefined;
  restarting?: boolean;
  health?: string | undefined;
}, now = Date.now()): string {
  const health = s.health ? (s.health === 'starting' ? ' (health: starting)' : ` (${s.health})`) : '';
  const since = (iso: string | undefined): number => (iso ? Math.max(0, now - Date.parse(iso)) : 0);
  switch (s.status) {
    case 'running':
      return `Up ${humanDuration(since(s.startedAt))}${health}`;
    case 'paused':
      return `Up ${humanDuration(since(s.startedAt))} (Paused)`;
    case 'restarting':
      return `Restarting (${s.exitCode}) ${humanDuration(since(s.finishedAt))} ago`;
    case 'exited':
      return `Exited (${s.exitCode}) ${humanDuration(since(s.finishedAt))} ago`;
    case 'removing':
      return 'Removal In Progress';
    case 'dead':
      return 'Dead';
    default:
      return 'Created';
  }
}
