import { constants } from 'node:fs';
import { open, readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';

/** A log and its rotated files, oldest first: `ctr.log.2`, `ctr.log.1`, `ctr.log` (as Docker's json-file names them). */
export async function logFiles(path: string): Promise<string[]> {
  const base = basename(path);
  const names = await readdir(dirname(path)).catch(() => [] as string[]);
  const rotated = names
    .map((n) => (n.startsWith(`${base}.`) ? Number(n.slice(base.length + 1)) : NaN))
    .filter((n) => Number.isInteger(n) && n > 0)
    .sort((a, b) => b - a);
  return [...rotated.map((n) => `${path}.${n}`), path];
}

/** Removes a log with its rotated files. */
export async function removeLogFiles(path: string): Promise<void> {
  for (const f of await logFiles(path)) await rm(f, { force: true });
}

/**
 * Rotates a live conmon log that is over `maxSize`: the files move up one number
 * (`ctr.log` -> `ctr.log.1`), the oldest beyond `maxFiles` goes, and conmon is told
 * through its ctl fifo to reopen its log, which creates `ctr.log` afresh. conmon writes
 * to the renamed file until it reopens, so no line is lost (unlike a copy-truncate).
 * False when the log is within its size or conmon is not there to reopen it.
 */
export async function rotateLog(path: string, ctlFifo: string, maxSize: number, maxFiles: number): Promise<boolean> {
  const size = (await stat(path).catch(() => undefined))?.size ?? 0;
  if (size <= maxSize) return false;
  // a non-blocking open fails (ENXIO) when conmon is gone instead of waiting for a reader
  const ctl = await open(ctlFifo, constants.O_WRONLY | constants.O_NONBLOCK).catch(() => undefined);
  if (!ctl) return false;
  try {
    const keep = Math.max(1, maxFiles);
    for (const f of await logFiles(path)) {
      const n = f === path ? 0 : Number(f.slice(path.length + 1));
      if (n + 1 >= keep) {
        // with max-file 1 the live log itself goes once conmon has let go of it (below)
        if (n > 0) await rm(f, { force: true });
      } else if (n > 0) {
        await rename(f, `${path}.${n + 1}`);
      }
    }
    await rename(path, `${path}.1`);
    // conmon's ctl message 2: reopen the log files
    await ctl.write('2 0 0\n');
  } finally {
    await ctl.close();
  }
  if (maxFiles <= 1) await dropWhenReopened(path);
  return true;
}

/**
 * Tells conmon to reopen its log (ctl message 2), which creates the file afresh at its
 * path: kubelet renames a CRI container's log, then asks for this. False when conmon is
 * not there to read the fifo.
 */
export async function reopenLog(ctlFifo: string, logPath?: string): Promise<boolean> {
  const ctl = await open(ctlFifo, constants.O_WRONLY | constants.O_NONBLOCK).catch(() => undefined);
  if (!ctl) return false;
  try {
    await ctl.write('2 0 0\n');
  } finally {
    await ctl.close();
  }
  // conmon reopens when it reads the fifo; kubelet (and critest) look for the new file as
  // soon as the call returns, as containerd answers only once it reopened: wait for it
  if (logPath) {
    for (let i = 0; i < 200 && !(await stat(logPath).then(() => true, () => false)); i++) await new Promise((r) => setTimeout(r, 10));
  }
  return true;
}

/** With max-file 1 a rotation empties the log: the renamed file goes once conmon writes the new one. */
async function dropWhenReopened(path: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await stat(path).then(() => true, () => false)) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  await rm(`${path}.1`, { force: true });
}
