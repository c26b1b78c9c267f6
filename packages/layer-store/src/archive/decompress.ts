import { spawn } from 'node:child_process';
import { Duplex as DuplexStream, PassThrough, type Duplex, type Readable, type Writable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { BerthError, InvalidArgumentError, type LayerCompression } from '@berth/image-format';

export interface Decompressor {
  stream: Duplex;
  /** Resolves once the decompressor has exited cleanly; rejects with its error. */
  done: Promise<void>;
}

/**
 * gzip runs in node's zlib (on the libuv pool, beside the JS thread). zstd runs as
 * Debian's `zstd -dc` child: Node 20 has no zstd in zlib and there is no maintained
 * pure-JS streaming decoder or prebuilt binding that installs here without downloads;
 * a child process also keeps decompression on the other core.
 */
export function decompressor(compression: LayerCompression): Decompressor {
  switch (compression) {
    case 'none': {
      const stream = new PassThrough({ highWaterMark: 1 << 20 });
      return { stream, done: Promise.resolve() };
    }
    case 'gzip': {
      const stream = createGunzip({ chunkSize: 256 * 1024 });
      return { stream, done: Promise.resolve() };
    }
    case 'zstd': {
      const child = spawn('zstd', ['-dcq'], { stdio: ['pipe', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d.slice(0, 4096)));
      const stream = new ZstdDuplex(child.stdin, child.stdout);
      const done = new Promise<void>((resolve, reject) => {
        child.on('error', (err) => reject(new BerthError('Unavailable', `zstd could not be started: ${err.message}`)));
        child.on('close', (code, signal) => {
          if (code === 0) resolve();
          else reject(new InvalidArgumentError(`zstd decompression failed (${signal ?? code}): ${stderr.trim()}`));
        });
      });
      done.catch((err) => stream.destroy(err));
      // Only an abandoned stream kills the child: after a normal end, stdout's EOF can
      // arrive before zstd has exited, and its exit status is still wanted.
      stream.on('close', () => {
        const finished = stream.readableEnded && stream.writableFinished;
        if (!finished && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      });
      return { stream, done };
    }
    default:
      throw new InvalidArgumentError(`unknown layer compression ${String(compression)}`);
  }
}

/** Joins the child's stdin and stdout into one Duplex for stream.pipeline. */
class ZstdDuplex extends DuplexStream {
  constructor(private readonly input: Writable, private readonly output: Readable) {
    super({ highWaterMark: 1 << 20 });
    output.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) output.pause();
    });
    output.on('end', () => this.push(null));
    output.on('error', (err) => this.destroy(err));
    input.on('error', (err) => this.destroy(err));
  }
  override _read(): void {
    this.output.resume();
  }
  override _write(chunk: Buffer, enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.input.write(chunk, enc, cb);
  }
  override _final(cb: (err?: Error | null) => void): void {
    this.input.end(cb);
  }
  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.input.destroy();
    this.output.destroy();
    cb(err);
  }
}
