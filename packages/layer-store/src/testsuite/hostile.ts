import { lstat, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildTar, type TestEntry } from './layers.js';

/**
 * The hostile-archive corpus: tars that try to write, link, delete or reach outside the
 * directory they are extracted into. Every entry point where a tar from outside meets the
 * filesystem (layer apply, docker cp into a container, berth cp onto the host, build
 * contexts) runs all of it, and must refuse or contain each case: `outside` (a host
 * directory holding `marker`, beside the root) and /etc/shadow stay as they were.
 */
export interface HostileCase {
  /** Short, unique, usable in a path. */
  id: string;
  tar: Buffer;
}

/** `outside`: an absolute host directory that holds a file `marker`. */
export function hostileCorpus(outside: string): HostileCase[] {
  // Enough `..` to climb from any root to / on this machine, then down into outside.
  const up = '../'.repeat(24);
  const climb = up + outside.slice(1);
  const cases: [string, TestEntry[]][] = [
    ['dotdot', [{ name: climb + '/marker', content: 'pwned' }]],
    ['dotdot-inner', [{ name: 'a/' + climb + '/new', content: 'pwned' }]],
    // Longer than ustar's 100 bytes: the name travels in a PAX `path` record.
    ['pax-path', [{ name: 'x/../'.repeat(20) + climb + '/marker', content: 'pwned' }]],
    ['absolute', [{ name: outside + '/marker', content: 'pwned' }, { name: outside + '/new', content: 'pwned' }]],
    ['hardlink-absolute', [{ name: 'l', type: 'link', linkname: outside + '/marker' }]],
    ['hardlink-dotdot', [{ name: 'l', type: 'link', linkname: climb + '/marker' }]],
    ['hardlink-shadow', [{ name: 'shadow', type: 'link', linkname: '/etc/shadow' }]],
    ['hardlink-via-symlink', [{ name: 'etc', type: 'symlink', linkname: '/etc' }, { name: 'shadow', type: 'link', linkname: 'etc/shadow' }]],
    ['symlink-write', [{ name: 'evil', type: 'symlink', linkname: outside }, { name: 'evil/marker', content: 'pwned' }, { name: 'evil/new', content: 'pwned' }]],
    ['symlink-relative-write', [{ name: 'rel', type: 'symlink', linkname: climb }, { name: 'rel/new', content: 'pwned' }]],
    ['symlink-mkdir', [{ name: 'evil', type: 'symlink', linkname: outside }, { name: 'evil/sub/', type: 'dir' }, { name: 'evil/sub/f', content: 'pwned' }]],
    ['symlink-chain', [{ name: 'a', type: 'symlink', linkname: 'b' }, { name: 'b', type: 'symlink', linkname: climb }, { name: 'a/new', content: 'pwned' }]],
    ['symlink-replaces-dir', [{ name: 'd/', type: 'dir' }, { name: 'd', type: 'symlink', linkname: outside }, { name: 'd/marker', content: 'pwned' }]],
    ['symlink-deep', [{ name: 'd/', type: 'dir' }, { name: 'd/f', content: 'ok' }, { name: 'd/link', type: 'symlink', linkname: outside }, { name: 'd/link/marker', content: 'pwned' }]],
    // A file over a link to outside replaces the link; it is never written through.
    ['file-over-symlink', [{ name: 'to-marker', type: 'symlink', linkname: outside + '/marker' }, { name: 'to-marker', content: 'replaces the link' }]],
    ['hardlink-to-symlink', [{ name: 's', type: 'symlink', linkname: outside + '/marker' }, { name: 'h', type: 'link', linkname: 's' }, { name: 'h', content: 'replaces the link' }]],
    ['symlink-loop', [{ name: 'a', type: 'symlink', linkname: 'b' }, { name: 'b', type: 'symlink', linkname: 'a' }, { name: 'a/x', content: 'x' }]],
    ['symlink-self', [{ name: 'self', type: 'symlink', linkname: 'self' }, { name: 'self/x', content: 'x' }]],
    // Whiteouts (meaningful in layers, plain names elsewhere) that would delete outside.
    ['whiteout-dotdot', [{ name: '.wh..', content: '' }, { name: 'd/', type: 'dir' }, { name: 'd/.wh..', content: '' }]],
    ['whiteout-via-symlink', [{ name: 'evil', type: 'symlink', linkname: outside }, { name: 'evil/.wh.marker', content: '' }]],
    ['opaque-via-symlink', [{ name: 'evil', type: 'symlink', linkname: outside }, { name: 'evil/.wh..wh..opq', content: '' }]],
    ['devices', [{ name: 'sda', type: 'block', devmajor: 8, devminor: 0 }, { name: 'mem', type: 'char', devmajor: 1, devminor: 1 }]],
    ['giant-pax', [{ name: 'x', content: 'x', xattrs: [['user.huge', Buffer.alloc(8 << 20, 0x41)]] }]],
  ];
  const out = cases.map(([id, entries]) => ({ id, tar: buildTar(entries) }));
  // Cut inside a file's body: the extraction fails, and leaves no half-written file outside.
  const whole = buildTar([{ name: 'f', content: Buffer.alloc(200_000, 7) }]);
  out.push({ id: 'truncated', tar: whole.subarray(0, 100_000) });
  return out;
}

/**
 * What must not change: the listing of `outside` with each entry's kind, size, links and
 * content, and /etc/shadow's link count (a hard link to it would raise it).
 */
export async function outsideState(outside: string): Promise<string> {
  const lines: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const n of (await readdir(dir)).sort()) {
      const p = join(dir, n);
      const st = await lstat(p);
      const body = st.isFile() ? (await readFile(p)).toString('base64') : '';
      lines.push(`${p.slice(outside.length)} ${st.mode.toString(8)} ${st.size} ${st.nlink} ${body}`);
      if (st.isDirectory()) await walk(p);
    }
  };
  await walk(outside);
  lines.push(`/etc/shadow nlink ${(await lstat('/etc/shadow')).nlink}`);
  return lines.join('\n');
}
