const BLKIO_KEYS = [
  'io_service_bytes_recursive',
  'io_serviced_recursive',
  'io_queue_recursive',
  'io_service_time_recursive',
  'io_wait_time_recursive',
  'io_merged_recursive',
  'io_time_recursive',
  'sectors_recursive',
] as const;

/**
 * Docker's blkio_stats shape: every list present, [] for a running container (no per-device
 * entries are collected), null for one that is not running, as dockerd answers.
 */
export function blkioStats(running: boolean): Record<string, unknown[] | null> {
  return Object.fromEntries(BLKIO_KEYS.map((k) => [k, running ? [] : null]));
}
