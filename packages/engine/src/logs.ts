import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import type { OutputChunk } from './docker-types.js';
import type { LogsOptions } from './services.js';
import { parseK8sLogLine } from '@berth/driver-linux';

function tsSeconds(ts: string): number {
  // Date.parse drops digits past milliseconds; good enough for since/until in seconds.
  return Date.parse(ts) / 1000;
}

/**
 * Reads a conmon log file as OutputChunks. Without `follow` it ends at EOF; with it, it
 * polls for appended lines until `isRunning()` turns false (then drains) or the signal aborts.
 */
export function readLogs(paths: string | string[], opts: LogsOptions, isRunning: () => boolean): Readable {
  const files = typeof paths === 'string' ? [paths] : paths;
  const wantOut = opts.stdout ?? true;
  const wantErr = opts.stderr ?? true;
  const tail = opts.tail === undefined || opts.tail === 'all' || opts.tail < 0 ? undefined : opts.tail;
  const out = new Readable({ objectMode: true, read() {} });
  const partials = new Map<string, string>();

  const accept = (line: string, sink: OutputChunk[]): void => {
    // conmon's k8s-file format is the driver's to parse; a partial line continues in the next entry
    const p = parseK8sLogLine(line);
    if (!p) return;
    const prev = partials.get(p.stream) ?? '';
    if (p.partial) {
      partials.set(p.stream, prev + p.line);
      return;
    }
    partials.delete(p.stream);
    if (p.stream === 'stdout' ? !wantOut : !wantErr) return;
    const t = tsSeconds(p.time);
    if (opts.since !== undefined && opts.since > 0 && t < opts.since) return;
    if (opts.until !== undefined && opts.until > 0 && t > opts.until) return;
    sink.push({ stream: p.stream, data: Buffer.from(prev + p.line + '\n'), timestamp: p.time });
  };

  void (async () => {
    let position = 0;
    let decoder = new StringDecoder('utf8');
    let carry = '';
    let path = files[0]!;
    const readMore = async (): Promise<OutputChunk[]> => {
      const chunks: OutputChunk[] = [];
      let size: number;
      try {
        size = (await stat(path)).size;
      } catch {
        return chunks;
      }
      if (size < position) position = 0; // rotated
      if (size === position) return chunks;
      const fh = await open(path, 'r');
      try {
        const buf = Buffer.allocUnsafe(Math.min(size - position, 1 << 20));
        while (position < size) {
          const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, size - position), position);
          if (bytesRead === 0) break;
          position += bytesRead;
          carry += decoder.write(buf.subarray(0, bytesRead));
          let nl: number;
          while ((nl = carry.indexOf('\n')) >= 0) {
            accept(carry.slice(0, nl), chunks);
            carry = carry.slice(nl + 1);
          }
        }
      } finally {
        await fh.close();
      }
      return chunks;
    };
    try {
      let first: OutputChunk[] = [];
      for (const f of files) {
        path = f;
        position = 0;
        carry = '';
        decoder = new StringDecoder('utf8');
        first.push(...(await readMore()));
      }
      if (tail !== undefined) first = tail === 0 ? [] : first.slice(-tail);
      for (const c of first) out.push(c);
      if (opts.follow) {
        while (!opts.signal?.aborted && !out.destroyed) {
          const running = isRunning();
          await new Promise((r) => setTimeout(r, 50));
          for (const c of await readMore()) out.push(c);
          if (!running) break;
        }
      }
      out.push(null);
    } catch (err) {
      out.destroy(err as Error);
    }
  })();
  opts.signal?.addEventListener('abort', () => out.push(null), { once: true });
  return out;
}

/** Streams the whole log file's raw bytes (for debugging / export). */
export function rawLog(path: string): Readable {
  return createReadStream(path);
}
