import { readFile } from 'node:fs/promises';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestDaemon, type TestDaemon } from './support/daemon.js';
import { dockerOk } from './support/docker-cli.js';

interface RawEntry {
  name: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  linkname: string;
  devmajor: number;
  devminor: number;
}

/** Every header block of a tar as written (PAX 'x' blocks too), read field by field. */
function rawHeaders(tar: Buffer): RawEntry[] {
  const out: RawEntry[] = [];
  const str = (b: Buffer) => b.subarray(0, b.indexOf(0) === -1 ? b.length : b.indexOf(0)).toString('utf8');
  const num = (b: Buffer) => parseInt(str(b).trim() || '0', 8);
  for (let off = 0; off + 512 <= tar.length; ) {
    const h = tar.subarray(off, off + 512);
    if (h.every((x) => x === 0)) break;
    const size = num(h.subarray(124, 136));
    out.push({
      name: str(h.subarray(0, 100)),
      type: String.fromCharCode(h[156]!),
      mode: num(h.subarray(100, 108)),
      uid: num(h.subarray(108, 116)),
      gid: num(h.subarray(116, 124)),
      uname: str(h.subarray(265, 297)),
      gname: str(h.subarray(297, 329)),
      linkname: str(h.subarray(157, 257)),
      devmajor: num(h.subarray(329, 337)),
      devminor: num(h.subarray(337, 345)),
    });
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

/** The host's name for a uid/gid (dockerd looks the ids up where it runs), '' for none. */
async function hostName(file: string, id: number): Promise<string> {
  const line = (await readFile(file, 'utf8')).split('\n').find((l) => l.split(':')[2] === String(id));
  return line?.split(':')[0] ?? '';
}

const SCRIPT =
  'mkdir -p /d/e && echo f > /d/f && chown 1000:1000 /d/f && chmod 4755 /d/f && ln /d/f /d/h && ln -s f /d/s && ' +
  'mkfifo /d/p && mknod /d/c c 1 3 && mkdir /z /a && echo x > /a/x && chmod 700 /z';

/**
 * `docker export` entries as dockerd 20.10 wrote them for a container that ran SCRIPT
 * (busybox imported from a rootfs; ustar, no PAX header anywhere, root not an entry):
 *   a/   5 040755 0:0 root/root        a/x  0 0100644 0:0 root/root
 *   d/   5 040755                       d/c  3 020644 dev 1,3
 *   d/e/ 5 040755                       d/f  0 0104755 1000:1000 ''/'' (host has no 1000)
 *   d/h  1 0104755 1000:1000 -> d/f     d/p  6 010644
 *   d/s  2 0120777 -> f                 z/   5 040700
 * in that order (depth-first, names in byte order); uname/gname are the daemon host's names.
 */
const DOCKERD: Record<string, Partial<RawEntry>> = {
  'a/': { type: '5', mode: 0o40755, uid: 0, gid: 0, linkname: '' },
  'a/x': { type: '0', mode: 0o100644, uid: 0, gid: 0 },
  'd/': { type: '5', mode: 0o40755 },
  'd/c': { type: '3', mode: 0o20644, devmajor: 1, devminor: 3 },
  'd/e/': { type: '5', mode: 0o40755 },
  'd/f': { type: '0', mode: 0o104755, uid: 1000, gid: 1000, linkname: '' },
  'd/h': { type: '1', mode: 0o104755, uid: 1000, gid: 1000, linkname: 'd/f' },
  'd/p': { type: '6', mode: 0o10644 },
  'd/s': { type: '2', mode: 0o120777, linkname: 'f' },
  'z/': { type: '5', mode: 0o40700 },
};

describe('docker export headers, as dockerd 20.10 writes them', () => {
  let t: TestDaemon;
  let work: string;
  let entries: RawEntry[];

  beforeAll(async () => {
    t = await startTestDaemon();
    await t.daemon.engine.images.ensureBuiltin('busybox');
    work = await mkdtemp(join(tmpdir(), 'berth-export-'));
    await dockerOk(t.dockerEnv, ['run', '--name', 'export-headers', '--network', 'none', 'busybox', 'sh', '-c', SCRIPT]);
    const file = join(work, 'export.tar');
    await dockerOk(t.dockerEnv, ['export', '-o', file, 'export-headers']);
    entries = rawHeaders(await readFile(file));
  }, 120_000);
  afterAll(async () => {
    await t?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('names entries without ./, leaves the root out and writes no PAX (atime/ctime) records', () => {
    expect(entries.length).toBeGreaterThan(10);
    expect(entries.filter((e) => e.name.startsWith('./') || e.name === '.' || e.name.startsWith('/'))).toEqual([]);
    expect(entries.filter((e) => e.type === 'x' || e.type === 'g')).toEqual([]);
  });

  it('walks depth-first with each directory\'s names in byte order', () => {
    const names = entries.map((e) => e.name);
    expect(names.filter((n) => n in DOCKERD)).toEqual(Object.keys(DOCKERD));
    // each entry comes after its directory, and siblings in byte order
    const seen = new Set<string>();
    for (const n of names) {
      const parent = n.replace(/\/$/, '').replace(/[^/]*$/, '');
      if (parent) expect(seen.has(parent), `${n} after ${parent}`).toBe(true);
      seen.add(n);
    }
    const key = (n: string) => n.replace(/\/$/, '').split('/');
    for (let i = 1; i < names.length; i++) {
      const [a, b] = [key(names[i - 1]!), key(names[i]!)];
      let j = 0;
      while (j < a.length && j < b.length && a[j] === b[j]) j++;
      if (j < a.length && j < b.length) expect(Buffer.compare(Buffer.from(a[j]!), Buffer.from(b[j]!)), `${names[i - 1]} before ${names[i]}`).toBe(-1);
    }
  });

  it('writes the type flags, mode bits with file type, owners, link names and device numbers dockerd wrote', async () => {
    const byName = new Map(entries.map((e) => [e.name, e]));
    for (const [name, want] of Object.entries(DOCKERD)) expect(byName.get(name), name).toMatchObject(want);
    const root = { uname: await hostName('/etc/passwd', 0), gname: await hostName('/etc/group', 0) };
    expect(root).toEqual({ uname: 'root', gname: 'root' });
    expect(byName.get('a/x')).toMatchObject(root);
    const other = { uname: await hostName('/etc/passwd', 1000), gname: await hostName('/etc/group', 1000) };
    expect(byName.get('d/f')).toMatchObject(other);
    expect(byName.get('d/h')).toMatchObject(other);
  });
});
