import { createReadStream, createWriteStream } from 'node:fs';
import { open, rename, stat, truncate } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { InvalidArgumentError } from '@berth/image-format';

/** Docker's `max-size` (`10m`, `512k`, `1g`, bytes). */
export function parseSize(v: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmg]?)b?$/i.exec(v.trim());
  if (!m) throw new InvalidArgumentError(`invalid max-size: ${v}`);
  const unit = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g'];
  return Math.floor(Number(m[1]) * unit);
}

/**
 * Copy-truncate rotation of a container's live log (conmon appends with O_APPEND, so it
 * goes on at offset 0): when `live` is over `maxSize` its bytes move to the end of
 * `history`, and `history` keeps at most `(maxFiles - 1) * maxSize` bytes, cut at a line.
 * Lines written between the copy and the truncate can be lost, as with logrotate's copytruncate.
 */
export async function rotateLog(live: string, history: string, maxSize: number, maxFiles: number): Promise<boolean> {
  const size = (await stat(live).catch(() => undefined))?.size ?? 0;
  if (size <= maxSize) return false;
  await pipeline(createReadStream(live, { start: 0, end: size - 1 }), createWriteStream(history, { flags: 'a' }));
  await truncate(live, 0);
  const cap = Math.max(0, (maxFiles - 1) * maxSize);
  const hsize = (await stat(history).catch(() => undefined))?.size ?? 0;
  if (hsize > cap) {
    if (cap === 0) {
      await truncate(history, 0);
      return true;
    }
    // Keep the newest `cap` bytes, starting at a line.
    const fh = await open(history, 'r');
    let start = hsize - cap;
    try {
      const buf = Buffer.alloc(64 * 1024);
      const { bytesRead } = await fh.read(buf, 0, buf.length, start);
      const nl = buf.subarray(0, bytesRead).indexOf(0x0a);
      start = nl < 0 ? hsize : start + nl + 1;
    } finally {
      await fh.close();
    }
    const tmp = `${history}.tmp`;
    await pipeline(createReadStream(history, { start }), createWriteStream(tmp));
    await rename(tmp, history);
  }
  return true;
}
