import { spawnSync } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import { BerthError } from '@berth/image-format';

// Node has no xattr API and no maintained binding that builds here without a compiler
// step of its own; setfattr/getfattr (Debian `attr`) are called with argv, never a shell,
// and always with -h so a symlink is never followed.

export function setXattr(path: string, name: string, value: Buffer): void {
  const r = spawnSync('setfattr', ['-h', '-n', name, '-v', '0x' + value.toString('hex'), '--', path], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    throw new BerthError('Internal', `setfattr ${name} on ${path} failed: ${r.error?.message ?? r.stderr.trim()}`);
  }
}

const GETFATTR_ARGS = ['-h', '-P', '-d', '-m', '-', '-e', 'hex', '--absolute-names'];

/**
 * Every xattr of every path under `dir` (including `dir`), from one getfattr run, without
 * holding the event loop (a layer commit calls this once per build step). Even an async
 * spawn forks on the calling thread, and forking a daemon of a few hundred MB stalls it
 * for tens of ms here; so getfattr is run from a helper thread, the output parsed here.
 */
export async function readXattrTree(dir: string, recursive = true): Promise<Map<string, Map<string, Buffer>>> {
  const stdout = await getfattrThread().run([...GETFATTR_ARGS, ...(recursive ? ['-R'] : []), '--', dir]);
  const parser = new XattrListing();
  parser.push(stdout);
  return parser.end();
}

// The helper thread's whole program: run getfattr with the argv it is sent (never a
// shell), answer with its stdout. getfattr exits 1 when some path has no xattr support;
// what it printed still holds.
const THREAD_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { spawnSync } = require('node:child_process');
parentPort.on('message', ({ id, args }) => {
  const r = spawnSync('getfattr', args, { maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'ignore'] });
  parentPort.postMessage({ id, error: r.error ? r.error.message : undefined, stdout: r.stdout });
});
`;

interface GetfattrThread {
  run(args: string[]): Promise<Buffer>;
}

let thread: GetfattrThread | undefined;

/** One helper thread for the process, started on first use; it never keeps the process alive. */
function getfattrThread(): GetfattrThread {
  if (thread) return thread;
  const worker = new Worker(THREAD_SOURCE, { eval: true });
  worker.unref();
  const waiting = new Map<number, { resolve: (b: Buffer) => void; reject: (e: Error) => void }>();
  let next = 0;
  const fail = (err: Error): void => {
    if (thread === self) thread = undefined;
    for (const w of waiting.values()) w.reject(err);
    waiting.clear();
  };
  worker.on('message', (m: { id: number; error?: string; stdout?: Uint8Array }) => {
    const w = waiting.get(m.id);
    waiting.delete(m.id);
    if (waiting.size === 0) worker.unref();
    if (!w) return;
    if (m.error !== undefined) w.reject(new BerthError('Internal', `getfattr failed: ${m.error}`));
    else w.resolve(Buffer.from(m.stdout ?? new Uint8Array()));
  });
  worker.on('error', (err) => fail(new BerthError('Internal', `getfattr thread failed: ${err.message}`)));
  worker.on('exit', (code) => fail(new BerthError('Internal', `getfattr thread exited (${code})`)));
  const self: GetfattrThread = {
    run(args) {
      return new Promise((resolve, reject) => {
        const id = next++;
        waiting.set(id, { resolve, reject });
        // held while a request is out, so a pending commit is not cut short by exit
        worker.ref();
        worker.postMessage({ id, args });
      });
    },
  };
  thread = self;
  return self;
}

/** The same, waiting for getfattr: for test tooling that compares trees, never a daemon path. */
export function readXattrTreeSync(dir: string, recursive = true): Map<string, Map<string, Buffer>> {
  const r = spawnSync('getfattr', [...GETFATTR_ARGS, ...(recursive ? ['-R'] : []), '--', dir], { maxBuffer: 1 << 30 });
  if (r.error) throw new BerthError('Internal', `getfattr failed: ${r.error.message}`);
  const parser = new XattrListing();
  parser.push(r.stdout);
  return parser.end();
}

/**
 * getfattr's dump read line by line as it comes (`# file: PATH`, then `name=0xHEX` lines):
 * only the listing's current partial line is held, not the whole output.
 */
class XattrListing {
  private readonly out = new Map<string, Map<string, Buffer>>();
  private current: Map<string, Buffer> | undefined;
  private rest = '';

  push(chunk: Buffer): void {
    // latin1 maps each byte to one char: paths are rebuilt byte for byte in unescapePath
    const lines = (this.rest + chunk.toString('latin1')).split('\n');
    this.rest = lines.pop() ?? '';
    for (const line of lines) this.line(line);
  }

  end(): Map<string, Map<string, Buffer>> {
    if (this.rest) this.line(this.rest);
    this.rest = '';
    return this.out;
  }

  private line(line: string): void {
    if (line.startsWith('# file: ')) {
      this.current = new Map();
      this.out.set(unescapePath(line.slice(8)), this.current);
    } else if (this.current && line.includes('=')) {
      const eq = line.indexOf('=');
      const name = unescapePath(line.slice(0, eq));
      const value = line.slice(eq + 1);
      this.current.set(name, value.startsWith('0x') ? Buffer.from(value.slice(2), 'hex') : Buffer.from(value.replace(/^"|"$/g, ''), 'latin1'));
    }
  }
}

export function readXattrs(path: string): Map<string, Buffer> {
  return readXattrTreeSync(path, false).values().next().value ?? new Map();
}

/** getfattr prints bytes outside printable ASCII (and backslash) as \ooo octal. */
function unescapePath(s: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '\\' && /^[0-7]{3}$/.test(s.slice(i + 1, i + 4))) {
      bytes.push(parseInt(s.slice(i + 1, i + 4), 8));
      i += 3;
    } else bytes.push(s.charCodeAt(i) & 0xff);
  }
  return Buffer.from(bytes).toString('utf8');
}
