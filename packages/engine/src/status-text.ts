/** Docker's units.HumanDuration: `Less than a second`, `3 seconds`, `About a minute`, `5 minutes`, `About an hour`, ... */
export function humanDuration(ms: number): string {
  const seconds = Math.round(ms / 1000);
  if (seconds < 1) return 'Less than a second';
  if (seconds === 1) return '1 second';
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.round(ms / 60000);
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.round(ms / 3600000);
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.floor(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.floor(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24 / 30)} months`;
  return `${Math.floor(hours / 24 / 365)} years`;
}

/** Docker's `Status` column of `ps`. */
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
