/**
 * Docker's `units.HumanDuration` (github.com/docker/go-units), which both dockerd's `Status`
 * text (`Up 3 seconds`, `Exited (1) About a minute ago`) and the docker CLI's `RunningFor` /
 * `CreatedSince` columns print. Go converts with int(): seconds and minutes are truncated;
 * hours alone are rounded (int(h + 0.5)), and days, weeks and months are whole parts of those
 * rounded hours; years truncate the hours again. One copy for berthd and the CLI, so the two
 * never disagree about the same moment.
 */
export function humanDuration(ms: number): string {
  const seconds = Math.trunc(ms / 1000);
  if (seconds < 1) return 'Less than a second';
  if (seconds === 1) return '1 second';
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.trunc(ms / 60_000);
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.trunc(ms / 3_600_000 + 0.5);
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.trunc(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.trunc(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.trunc(hours / 24 / 30)} months`;
  return `${Math.trunc(ms / 3_600_000 / 24 / 365)} years`;
}
