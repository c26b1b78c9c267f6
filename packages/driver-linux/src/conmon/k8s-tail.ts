import { open } from 'node:fs/promises';
import { recordHeader } from './k8s-record.js';

const BLOCK = 64 * 1024;
const MAX_RECORD = 1024 * 1024;

/**
 * Where the last `n` lines of k8s-file logs begin (files oldest first), found by reading
 * backwards from the end, as Docker's json-file does for `--tail`: a huge log costs what
 * those lines cost. A line is what LineJoiner makes of the records: it ends at an `F`
 * record, where the other stream takes over, and at the end of the log.
 */
export async function tailStart(files: string[], n: number): Promise<{ file: number; offset: number }> {
  if (n <= 0) return { file: files.length, offset: 0 };
  let count = 0;
  let nextStream: string | undefined;
  for (let fi = files.length - 1; fi >= 0; fi--) {
    let fh;
    try {
      fh = await open(files[fi]!, 'r');
    } catch {
      continue;
    }
    try {
      const size = (await fh.stat()).size;
      let hi = size;
      // bytes after the read block whose record's start is not known yet
      let carry = Buffer.alloc(0);
      let skipTrailing = true;
      while (hi > 0) {
        const lo = Math.max(0, hi - BLOCK);
        const block = Buffer.allocUnsafe(hi - lo);
        const { bytesRead } = await fh.read(block, 0, hi - lo, lo);
        const data = carry.length > 0 ? Buffer.concat([block.subarray(0, bytesRead), carry]) : block.subarray(0, bytesRead);
        let end = data.length;
        if (skipTrailing) {
          // a record still being written (no `\n` yet) is not read forward either
          const last = data.lastIndexOf(0x0a);
          if (last < 0 && lo > 0) {
            carry = data.length > MAX_RECORD ? Buffer.alloc(0) : Buffer.from(data);
            hi = lo;
            continue;
          }
          end = last + 1;
          skipTrailing = false;
        }
        // records are data[s, e) with data[e - 1] === '\n'; walk them from the last
        let e = end;
        while (e > 0) {
          const s = e - 1 > 0 ? data.lastIndexOf(0x0a, e - 2) + 1 : 0;
          if (s === 0 && lo > 0) break; // its start is in an earlier block
          const h = recordHeader(data.subarray(s, e - 1));
          if (h) {
            if (!h.partial || h.stream !== nextStream) {
              if (++count > n) return { file: fi, offset: lo + e };
            }
            nextStream = h.stream;
          }
          e = s;
        }
        const keep = data.subarray(0, e);
        carry = keep.length > MAX_RECORD ? Buffer.alloc(0) : Buffer.from(keep);
        hi = lo;
      }
    } finally {
      await fh.close();
    }
  }
  return { file: 0, offset: 0 };
}
