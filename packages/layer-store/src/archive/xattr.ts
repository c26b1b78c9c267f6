import { spawnSync } from 'node:child_process';
import { BerthError } from '@berth/image-format';
import { runHostTool } from './host-tools.js';

// Node has no xattr API and no maintained binding that builds here without a compiler
// step of its own; setfattr/getfattr (Debian `attr`) are called with argv, never a shell,
// and always with -h so a symlink is never followed.

/** Sets one xattr, from the helper thread (see host-tools.ts). */
export async function setXattr(path: string, name: string, value: Buffer): Promise<void> {
  const r = await runHostTool('setfattr', ['-h', '-n', name, '-v', '0x' + value.toString('hex'), '--', path]);
  if (r.status !== 0) throw new BerthError('Internal', `setfattr ${name} on ${path} failed: ${r.stderr}`);
}

const GETFATTR_ARGS = ['-h', '-P', '-d', '-e', 'hex', '--absolute-names'];

/**
 * Every xattr (named by the regex `match`, default all) of every path under `dir` (including `dir`), from one getfattr run, without
 * holding the event loop (a layer commit calls this once per build step): getfattr runs
 * from the helper thread, the output is parsed here.
 */
export async function readXattrTree(dir: string, recursive = true, match = '-'): Promise<Map<string, Map<string, Buffer>>> {
  // getfattr exits 1 when some path has no xattr support; what it printed still holds.
  const { stdout } = await runHostTool('getfattr', [...GETFATTR_ARGS, '-m', match, ...(recursive ? ['-R'] : []), '--', dir]);
  const parser = new XattrListing();
  parser.push(stdout);
  return parser.end();
}

/** The same, waiting for getfattr: for test tooling that compares trees, never a daemon path. */
export function readXattrTreeSync(dir: string, recursive = true): Map<string, Map<string, Buffer>> {
  const r = spawnSync('getfattr', [...GETFATTR_ARGS, '-m', '-', ...(recursive ? ['-R'] : []), '--', dir], { maxBuffer: 1 << 30 });
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
