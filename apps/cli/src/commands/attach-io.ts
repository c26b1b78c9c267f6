// The terminal side of an attached container or exec: output demultiplexed (or raw with
// a TTY), stdin forwarded, the local terminal in raw mode and its size sent on SIGWINCH.
import type { Duplex, Writable } from 'node:stream';
import { DetachKeyWatcher, demultiplexStream, type HijackedStream } from '@berth/engine-api';
import type { Streams } from '../context.js';

interface AttachIo {
  /** Resolves when the container's output ends. */
  output: Promise<void>;
  /** Puts the terminal back and stops forwarding. */
  restore(): void;
  /** True once the user typed the detach keys (the output was cut, the container runs on). */
  detached(): boolean;
}

interface AttachIoOptions {
  tty: boolean;
  stdin: boolean;
  /** Called with the terminal size now and on every SIGWINCH (only with tty and a local terminal). */
  resize?: (size: { h: number; w: number }) => void;
  /** Typed into a TTY with stdin attached, this sequence detaches (see detach-keys.ts). */
  detachKeys?: readonly number[];
}

/** Wires a hijacked connection to the local streams. */
export function wireAttach(h: HijackedStream, io: Streams, options: AttachIoOptions): AttachIo {
  const stdout = io.stdout as unknown as Writable;
  const stderr = io.stderr as unknown as Writable;
  const stdin = io.stdin as NodeJS.ReadStream;
  const conn: Duplex = h.stream;
  let restored = false;
  let rawSet = false;
  const onWinch = (): void => {
    const out = io.stdout as NodeJS.WriteStream;
    if (out.columns && out.rows) options.resize?.({ h: out.rows, w: out.columns });
  };
  if (options.tty && stdin.isTTY && options.stdin) {
    stdin.setRawMode(true);
    rawSet = true;
  }
  if (options.tty && (io.stdout as NodeJS.WriteStream).isTTY && options.resize) {
    process.on('SIGWINCH', onWinch);
  }
  const watcher = options.tty && options.stdin && options.detachKeys?.length ? new DetachKeyWatcher(options.detachKeys) : undefined;
  let detached = false;
  const onData = (data: Buffer): void => {
    if (!conn.writable) return;
    let chunk = data;
    if (watcher) {
      const seen = watcher.feed(data);
      chunk = seen.forward;
      if (seen.detach) {
        detached = true;
        if (chunk.length > 0) conn.write(chunk);
        stdin.removeListener('data', onData);
        // cuts the output too: the container keeps running
        conn.destroy();
        return;
      }
      if (chunk.length === 0) return;
    }
    if (!conn.write(chunk)) {
      stdin.pause();
      conn.once('drain', () => stdin.resume());
    }
  };
  const onEnd = (): void => {
    if (conn.writable) conn.end();
  };
  if (options.stdin) {
    stdin.on('data', onData);
    stdin.once('end', onEnd);
    stdin.resume();
  }
  const output = (async () => {
    conn.on('error', () => {
      // the connection closing under us ends the output below
    });
    if (h.multiplexed) {
      await demultiplexStream(conn, stdout, stderr).catch((err: unknown) => {
        if ((err as NodeJS.ErrnoException).code !== 'ECONNRESET') throw err;
      });
    } else {
      for await (const chunk of conn) {
        if (!stdout.write(chunk as Buffer)) await new Promise((r) => stdout.once('drain', r));
      }
    }
  })();
  // Callers may give up on the output (start failed): never an unhandled rejection.
  output.catch(() => {});
  return {
    output,
    restore() {
      if (restored) return;
      restored = true;
      if (rawSet) stdin.setRawMode(false);
      process.removeListener('SIGWINCH', onWinch);
      if (options.stdin) {
        stdin.removeListener('data', onData);
        stdin.removeListener('end', onEnd);
        stdin.pause();
        (stdin as { unref?: () => void }).unref?.();
      }
      conn.destroy();
    },
    detached: () => detached,
  };
}

/** Sends the current terminal size once (docker does this right after start). */
export function initialSize(io: Streams): { h: number; w: number } | undefined {
  const out = io.stdout as NodeJS.WriteStream;
  return out.isTTY && out.columns && out.rows ? { h: out.rows, w: out.columns } : undefined;
}
