import { open, readFile, unlink } from 'node:fs/promises';
import { BerthError } from '@berth/image-format';

/** Locks held by this process, keyed by lock file path, so waiters need no polling. */
const held = new Map<string, Promise<void>>();

function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Takes an exclusive lock shared by every process on the machine: an in-process map for
 * waiters here, and an O_EXCL lock file holding our pid for other processes. A lock file
 * whose pid is dead (a kill -9) is stale and taken over. Waits at most `timeoutMs`.
 */
export async function acquireLock(path: string, timeoutMs = 10 * 60_000): Promise<() => Promise<void>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const other = held.get(path);
    if (!other) break;
    await Promise.race([other, sleep(Math.max(0, deadline - Date.now()))]);
    if (Date.now() >= deadline && held.has(path)) throw unavailable(path);
  }
  let release!: () => void;
  held.set(path, new Promise<void>((r) => (release = r)));
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        const fh = await open(path, 'wx', 0o600);
        await fh.writeFile(String(process.pid));
        await fh.close();
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const pid = Number((await readFile(path, 'utf8').catch(() => '')).trim());
        // Our own pid without an in-process entry is a leftover of an earlier instance
        // whose pid we reused; an empty file is a writer killed between open and write.
        if (pid === process.pid || !pidAlive(pid)) {
          await unlink(path).catch(() => undefined);
          continue;
        }
        if (Date.now() >= deadline) throw unavailable(path);
        await sleep(Math.min(200, 20 * (attempt + 1)));
      }
    }
  } catch (err) {
    held.delete(path);
    release();
    throw err;
  }
  let done = false;
  return async () => {
    if (done) return;
    done = true;
    await unlink(path).catch(() => undefined);
    held.delete(path);
    release();
  };
}

/** True when a live process holds the lock file. */
export async function lockHeld(path: string): Promise<boolean> {
  if (held.has(path)) return true;
  const pid = Number((await readFile(path, 'utf8').catch(() => '')).trim());
  return pid !== process.pid && pidAlive(pid);
}

function unavailable(path: string): BerthError {
  return new BerthError('Unavailable', `timed out waiting for lock ${path}`);
}
