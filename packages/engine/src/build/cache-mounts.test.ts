import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CacheMounts } from './cache-mounts.js';
import { parseMountSpec } from './run-mounts.js';

describe('CacheMounts', () => {
  let root: string;
  let mounts: CacheMounts;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'berth-cache-mounts-'));
    mounts = new CacheMounts(join(root, 'caches'));
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('keeps a cache by id between uses, made with its mode and owner the first time', async () => {
    const spec = parseMountSpec('type=cache,id=deps,target=/c,mode=0700,uid=1000,gid=1001');
    const a = await mounts.acquire(spec);
    await writeFile(join(a.dir, 'kept'), 'x');
    await a.release();
    const b = await mounts.acquire(parseMountSpec('type=cache,id=deps,target=/elsewhere'));
    expect(b.dir).toBe(a.dir);
    expect(await readdir(b.dir)).toEqual(['kept']);
    const st = await stat(b.dir);
    expect([st.mode & 0o777, st.uid, st.gid]).toEqual([0o700, 1000, 1001]);
    await b.release();
    // another id (by default the target) is another directory
    const other = await mounts.acquire(parseMountSpec('type=cache,target=/c'));
    expect(other.dir).not.toBe(a.dir);
    await other.release();
    await mounts.prune();
    const fresh = await mounts.acquire(spec);
    expect(await readdir(fresh.dir)).toEqual([]);
    await fresh.release();
  });

  it('sharing: shared users get one directory at once, locked ones take turns, a private one gets its own', async () => {
    const shared = parseMountSpec('type=cache,id=s,target=/c,sharing=shared');
    const [s1, s2] = await Promise.all([mounts.acquire(shared), mounts.acquire(shared)]);
    expect(s1.dir).toBe(s2.dir);
    await Promise.all([s1.release(), s2.release()]);

    const locked = parseMountSpec('type=cache,id=l,target=/c,sharing=locked');
    const l1 = await mounts.acquire(locked);
    let second = false;
    const waiting = mounts.acquire(locked).then((l) => {
      second = true;
      return l;
    });
    await new Promise((r) => setTimeout(r, 50));
    expect(second).toBe(false);
    await l1.release();
    const l2 = await waiting;
    expect(l2.dir).toBe(l1.dir);
    await l2.release();

    const priv = parseMountSpec('type=cache,id=p,target=/c,sharing=private');
    const p1 = await mounts.acquire(priv);
    await writeFile(join(p1.dir, 'mine'), 'x');
    const p2 = await mounts.acquire(priv);
    expect(p2.dir).not.toBe(p1.dir);
    expect(await readdir(p2.dir)).toEqual([]);
    await p2.release();
    // the private copy is gone with its use; the cache itself stays
    await expect(stat(p2.dir)).rejects.toThrow();
    await p1.release();
    expect(await readdir(p1.dir)).toEqual(['mine']);
  });
});
