import { spawnSync } from 'node:child_process';
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

/** Every xattr of every path under `dir` (including `dir`), from one getfattr run. */
export function readXattrTree(dir: string, recursive = true): Map<string, Map<string, Buffer>> {
  const args = ['-h', '-P', '-d', '-m', '-', '-e', 'hex', '--absolute-names'];
  if (recursive) args.push('-R');
  const r = spawnSync('getfattr', [...args, '--', dir], { maxBuffer: 1 << 30 });
  if (r.error) throw new BerthError('Internal', `getfattr failed: ${r.error.message}`);
  const out = new Map<string, Map<string, Buffer>>();
  let current: Map<string, Buffer> | undefined;
  for (const line of r.stdout.toString('latin1').split('\n')) {
    if (line.startsWith('# file: ')) {
      current = new Map();
      out.set(unescapePath(line.slice(8)), current);
    } else if (current && line.includes('=')) {
      const eq = line.indexOf('=');
      const name = unescapePath(line.slice(0, eq));
      const value = line.slice(eq + 1);
      current.set(name, value.startsWith('0x') ? Buffer.from(value.slice(2), 'hex') : Buffer.from(value.replace(/^"|"$/g, ''), 'latin1'));
    }
  }
  return out;
}

export function readXattrs(path: string): Map<string, Buffer> {
  return readXattrTree(path, false).values().next().value ?? new Map();
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
