import type { LogEntry } from '@berth/runtime';

/** One record of conmon's k8s-file log: `<time> <stream> <tags> <content>\n`, content as raw bytes. */
export interface K8sRecord {
  time: string;
  stream: 'stdout' | 'stderr';
  /** Tag `P`: the content did not end its line (the next record of the stream continues it). */
  partial: boolean;
  content: Buffer;
}

const SPACE = 0x20;

/**
 * Parses one record (without its `\n`). Only the header is text; the content stays bytes,
 * so output that is not UTF-8 (a binary, a latin-1 file) comes back unchanged.
 */
export function parseK8sRecord(line: Buffer): K8sRecord | undefined {
  const a = line.indexOf(SPACE);
  if (a < 0) return undefined;
  const b = line.indexOf(SPACE, a + 1);
  if (b < 0) return undefined;
  const stream = line.toString('latin1', a + 1, b);
  if (stream !== 'stdout' && stream !== 'stderr') return undefined;
  const c = line.indexOf(SPACE, b + 1);
  const tags = line.toString('latin1', b + 1, c < 0 ? line.length : c);
  return {
    time: line.toString('latin1', 0, a),
    stream,
    partial: tags.split(':').includes('P'),
    // copied: the caller's buffer is reused for the next read
    content: c < 0 ? Buffer.alloc(0) : Buffer.from(line.subarray(c + 1)),
  };
}

/** The stream and tags of a record, without copying its content (for counting from the end). */
export function recordHeader(line: Buffer): { stream: string; partial: boolean } | undefined {
  const a = line.indexOf(SPACE);
  const b = a < 0 ? -1 : line.indexOf(SPACE, a + 1);
  if (b < 0) return undefined;
  const stream = line.toString('latin1', a + 1, b);
  if (stream !== 'stdout' && stream !== 'stderr') return undefined;
  const c = line.indexOf(SPACE, b + 1);
  return { stream, partial: line.toString('latin1', b + 1, c < 0 ? line.length : c).split(':').includes('P') };
}

/** A joined line is cut here, so one endless line cannot hold the reader's memory. */
const MAX_JOINED = 64 * 1024;

/**
 * Joins the pieces of a line (conmon writes a `P` record for every read that did not end
 * one) into one entry, as Docker's json-file keeps a line in one message: `--timestamps`
 * and `--tail` then see lines, not pipe reads. A line ends at an `F` record, when the
 * other stream writes, at MAX_JOINED bytes, or when the reader flushes (nothing more to
 * read now): a line still waiting for its newline is given as it is, without one.
 */
export class LineJoiner {
  private pending: { stream: 'stdout' | 'stderr'; time: string; parts: Buffer[]; size: number } | undefined;

  /** Adds a record; returns the entries it completes (at most two). */
  push(r: K8sRecord): LogEntry[] {
    const out: LogEntry[] = [];
    if (this.pending && this.pending.stream !== r.stream) out.push(this.take()!);
    const p = (this.pending ??= { stream: r.stream, time: r.time, parts: [], size: 0 });
    p.parts.push(r.content);
    p.size += r.content.length;
    if (!r.partial) {
      p.parts.push(NEWLINE);
      out.push(this.take()!);
    } else if (p.size >= MAX_JOINED) {
      out.push(this.take()!);
    }
    return out;
  }

  /** The line waiting for more, as it is so far. */
  flush(): LogEntry | undefined {
    return this.pending ? this.take() : undefined;
  }

  private take(): LogEntry | undefined {
    const p = this.pending;
    this.pending = undefined;
    if (!p) return undefined;
    return { stream: p.stream, time: p.time, data: p.parts.length === 1 ? p.parts[0]! : Buffer.concat(p.parts) };
  }
}

const NEWLINE = Buffer.from('\n');
