// One request and its answer over a Unix socket for the `ps` short path, on node's own pipe
// handle rather than a net.Socket: loading node:net loads node's stream modules first
// (about 20 of them, 3-5 ms of a `berth ps` that should cost ~10 ms over node's start),
// and one request needs none of what a stream adds. The handle is the one net.Socket
// itself wraps (the pipe_wrap and stream_wrap bindings). process.binding() is deprecated
// (DEP0111: in the documentation, and a warning only under --pending-deprecation, which
// this quiets for its own calls), yet these two are on its allow list from Node 12 to 22.
// Node checks these calls' arguments with assertions that abort the process, past any
// fallback: only Node 20, the major these calls were tested on (21 and 22's net.js reads
// the same, untested), uses them; any other node, or anything missing or of another shape,
// and the short path uses node:net instead.

/** The node majors whose pipe handle this file drives, tested, as their net.js does. */
const KNOWN_MAJORS = /^v20\./;

/** How a handle's reads end (libuv's UV_EOF, the same on every platform). */
const UV_EOF = -4095;

interface PipeHandle {
  connect(req: object, path: string): unknown;
  writeUtf8String(req: object, text: string): number;
  readStart(): number;
  readStop(): number;
  close(): void;
  onread: (buffer: ArrayBuffer | undefined) => void;
}

export interface PipeBindings {
  Pipe: new (type: number) => PipeHandle;
  PipeConnectWrap: new () => { oncomplete?: (status: number) => void };
  WriteWrap: new () => { handle?: PipeHandle; oncomplete?: (status: number) => void; async?: boolean };
  socketType: number;
  /** Where a read reports its size (or error) and its offset in the buffer it hands over. */
  state: Int32Array;
  readBytesOrError: number;
  arrayBufferOffset: number;
}

type Binding = (name: string) => Record<string, unknown>;

/** The bindings, or undefined where this node has them otherwise (or not at all). */
export function pipeBindings(version = process.version): PipeBindings | undefined {
  if (!KNOWN_MAJORS.test(version)) return undefined;
  const binding = (process as unknown as { binding?: Binding }).binding;
  if (typeof binding !== 'function') return undefined;
  const proc = process as { noDeprecation?: boolean };
  const quiet = proc.noDeprecation;
  try {
    // documented as settable: no DEP0111 line on stderr (nor a throw under --throw-deprecation)
    proc.noDeprecation = true;
    const pipe = binding.call(process, 'pipe_wrap');
    const stream = binding.call(process, 'stream_wrap');
    const { Pipe, PipeConnectWrap, constants } = pipe as { Pipe?: unknown; PipeConnectWrap?: unknown; constants?: { SOCKET?: unknown } };
    const { WriteWrap, streamBaseState, kReadBytesOrError, kArrayBufferOffset } = stream;
    if (typeof Pipe !== 'function' || typeof PipeConnectWrap !== 'function' || typeof WriteWrap !== 'function') return undefined;
    if (typeof constants?.SOCKET !== 'number' || !(streamBaseState instanceof Int32Array)) return undefined;
    if (typeof kReadBytesOrError !== 'number' || typeof kArrayBufferOffset !== 'number') return undefined;
    for (const method of ['connect', 'writeUtf8String', 'readStart', 'readStop', 'close']) {
      if (typeof (Pipe.prototype as Record<string, unknown>)[method] !== 'function') return undefined;
    }
    return {
      Pipe: Pipe as PipeBindings['Pipe'],
      PipeConnectWrap: PipeConnectWrap as PipeBindings['PipeConnectWrap'],
      WriteWrap: WriteWrap as PipeBindings['WriteWrap'],
      socketType: constants.SOCKET,
      state: streamBaseState,
      readBytesOrError: kReadBytesOrError,
      arrayBufferOffset: kArrayBufferOffset,
    };
  } catch {
    return undefined;
  } finally {
    if (quiet === undefined) delete proc.noDeprecation;
    else proc.noDeprecation = quiet;
  }
}

/**
 * Connects to `path`, writes `request` and reads until `answer` (called with all bytes so
 * far, and whether the daemon closed its end) returns a Buffer (resolved) or an Error
 * (rejected), or the connection fails (rejected). The handle is closed either way: a
 * failure leaves nothing that keeps node running for the whole CLI that answers then.
 */
export function pipeExchange(b: PipeBindings, path: string, request: string, answer: (buf: Buffer, ended: boolean) => Buffer | Error | undefined): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const handle = new b.Pipe(b.socketType);
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const finish = (result: Buffer | Error): void => {
      if (settled) return;
      settled = true;
      // (onread stays: node asserts it is a function)
      handle.close();
      if (result instanceof Error) reject(result);
      else resolve(result);
    };
    const failed = (what: string, status: number): void => finish(new Error(`${what} ${path}: libuv error ${status}`));
    const connecting = new b.PipeConnectWrap();
    connecting.oncomplete = (status: number) => {
      if (settled) return;
      if (status < 0) return failed('connect', status);
      handle.onread = (buffer) => {
        if (settled) return;
        const n = b.state[b.readBytesOrError]!;
        if (n === 0) return;
        if (n < 0) {
          if (n !== UV_EOF) return failed('read', n);
          return finish(answer(Buffer.concat(chunks, size), true) ?? new Error('no response'));
        }
        // a view of the memory this read was given (as net.Socket hands it on)
        chunks.push(Buffer.from(buffer!, b.state[b.arrayBufferOffset]!, n));
        size += n;
        const body = answer(Buffer.concat(chunks, size), false);
        if (body) finish(body);
      };
      const reading = handle.readStart();
      if (reading < 0) return failed('read', reading);
      const writing = new b.WriteWrap();
      writing.handle = handle;
      writing.async = false;
      writing.oncomplete = (st: number) => {
        if (st < 0) failed('write', st);
      };
      const wrote = handle.writeUtf8String(writing, request);
      if (wrote < 0) failed('write', wrote);
    };
    // newer nodes answer a bad path at once (uv_pipe_connect2), older ones in oncomplete
    const started = handle.connect(connecting, path);
    if (typeof started === 'number' && started < 0) failed('connect', started);
  });
}
