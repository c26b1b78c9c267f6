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
 * gzip runs in node's zlib (on the libuv pool, beside the JS thread). A host decoder as a
 * child (BERTH_GUNZIP=igzip|pigz|gzip) was measured on the `big` image pull: ISA-L's igzip
 * inflates with about 4x less CPU than zlib, but piping every byte in and out of a child
 * cost as much again (1.63 s vs 1.54 s CPU per pull, no faster), so zlib stays the default.
 * zstd runs as Debian's `zstd -dc` child: Node 20 has no zstd in zlib and there is no
 * maintained pure-JS streaming decoder or prebuilt binding that installs here without
 * downloads; a child process also keeps decompression on the other core.
 */
function decompressor(compression: LayerCompression): Decompressor {
  switch (compression) {
    case 'none': {
      const stream = new PassThrough({ highWaterMark: 1 << 20 });
      return { stream, done: Promise.resolve() };
    }
    case 'gzip': {
      const tool = gunzipTool();
      if (tool !== 'node') return childDecompressor(tool, ['-dc'], 'gzip');
      const stream = createGunzip({ chunkSize: 256 * 1024 });
      return { stream, done: Promise.resolve() };
    }
    case 'zstd':
      return childDecompressor('zstd', ['-dcq'], 'zstd');
    default:
      throw new InvalidArgumentError(`unknown layer compression ${String(compression)}`);
  }
}

/** The decoder child was stopped because its reader gave up (not a fault of the data). */
export class DecoderStoppedError extends BerthError {
  constructor(message: string) {
    super('Internal', message);
  }
}

/** The gzip decoder: node's zlib unless BERTH_GUNZIP names a host decoder (for measuring). */
function gunzipTool(): string {
  const forced = process.env.BERTH_GUNZIP;
  return forced === 'igzip' || forced === 'pigz' || forced === 'gzip' ? forced : 'node';
}

/** A host decompressor (never anything from the image) as a child: stdin in, stdout out. */
function childDecompressor(command: string, args: string[], label: string): Decompressor {
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d.slice(0, 4096)));
  const stream = new ChildDuplex(child.stdin, child.stdout);
  let killed = false;
  const done = new Promise<void>((resolve, reject) => {
    child.on('error', (err) => reject(new BerthError('Unavailable', `${command} could not be started: ${err.message}`)));
    child.on('close', (code, signal) => {
      if (code === 0) resolve();
      else if (killed) reject(new DecoderStoppedError(`${command} stopped: the layer's apply ended first`));
      // A decoder exits non-zero on a cut stream as on garbage; both read as "truncated or invalid".
      else reject(new InvalidArgumentError(`${label} decompression failed (${command} ${signal ?? code}): the layer is truncated or not valid ${label} data: ${stderr.trim()}`));
    });
  });
  done.catch((err) => stream.destroy(err));
  // Only an abandoned stream kills the child: after a normal end, stdout's EOF can
  // arrive before the child has exited, and its exit status is still wanted.
  stream.on('close', () => {
    const finished = stream.readableEnded && stream.writableFinished;
    if (!finished && child.exitCode === null && child.signalCode === null) {
      killed = true;
      child.kill('SIGKILL');
    }
  });
  return { stream, done };
}

/** Joins the child's stdin and stdout into one Duplex for stream.pipeline. */
class ChildDuplex extends DuplexStream {
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

/** What a stream's first bytes say it is: gzip and zstd by their magic numbers, else a plain tar. */
function sniffCompression(head: Buffer): LayerCompression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  return 'none';
}

/**
 * The decoder the data asks for, whatever its media type declared, as dockerd's and
 * containerd's DecompressStream: dockerd 20.10 pushes layers it pulled uncompressed under
 * `tar.gzip` media types, and registries serve them so.
 */
export function sniffingDecompressor(declared: LayerCompression): Decompressor {
  let settle!: { resolve: () => void; reject: (err: unknown) => void };
  const done = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
  let opened = false;
  const stream = new SniffingDuplex((kind) => {
    opened = true;
    const inner = decompressor(kind);
    inner.done.then(settle.resolve, settle.reject);
    return inner;
  }, declared);
  stream.on('error', () => undefined);
  // ended before a byte came: no decoder ever ran, so none can fail
  stream.on('close', () => {
    if (!opened) settle.resolve();
  });
  return { stream, done };
}

/** Holds the first bytes until they name the decoder, then passes everything through it. */
class SniffingDuplex extends DuplexStream {
  private head: Buffer = Buffer.alloc(0);
  private inner: Duplex | undefined;

  constructor(
    private readonly open: (kind: LayerCompression) => Decompressor,
    private readonly declared: LayerCompression,
  ) {
    super({ highWaterMark: 1 << 20 });
  }

  private choose(head: Buffer): Duplex {
    const kind = head.length === 0 ? this.declared : sniffCompression(head);
    const inner = this.open(kind).stream;
    inner.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) inner.pause();
    });
    inner.on('end', () => this.push(null));
    inner.on('error', (err) => this.destroy(err));
    this.inner = inner;
    return inner;
  }

  override _read(): void {
    this.inner?.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.inner) {
      this.inner.write(chunk, cb);
      return;
    }
    this.head = Buffer.concat([this.head, chunk]);
    if (this.head.length < 4) return cb();
    const head = this.head;
    this.head = Buffer.alloc(0);
    this.choose(head).write(head, cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    const inner = this.inner ?? this.choose(this.head);
    if (this.head.length > 0) inner.write(this.head);
    inner.end(cb);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.inner?.destroy();
    cb(err);
  }
}
