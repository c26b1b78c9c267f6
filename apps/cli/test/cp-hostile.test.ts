import { lstat, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostileCorpus, outsideState } from '@berth/layer-store/testsuite';
import { untar } from '../src/commands/cp-archive.js';
import { useCliDaemon } from './support/fixture.js';

// The hostile-archive corpus (layer-store's testsuite) through `berth cp`, both ways: the
// host-side extraction of `berth cp CTR:SRC DEST` (fed the corpus itself, then whatever a
// hostile copy left in a container, through a real berthd), and `berth cp - CTR:DEST`.
// Each case is refused or contained: a host directory beside everything stays as it was.
describe('berth cp with hostile archives', () => {
  const t = useCliDaemon({ busybox: 'builtin' });
  const { berth, berthOk } = t;
  let work: string;
  let outside: string;
  const ctr = `cp-hostile-${Math.random().toString(16).slice(2, 8)}`;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'berth-cp-hostile-'));
    outside = join(work, 'outside');
    await mkdir(outside);
    await writeFile(join(outside, 'marker'), 'untouched');
    await berthOk(['run', '-d', '--name', ctr, '--network', 'none', 'busybox', 'sleep', '600']);
  }, 180_000);
  afterAll(async () => {
    await berth(['rm', '-f', ctr]);
    if (work) await rm(work, { recursive: true, force: true });
  }, 240_000);

  it("the host extraction (berth cp CTR:SRC DEST) refuses or contains every case", async () => {
    const before = await outsideState(outside);
    const outcomes: Record<string, string> = {};
    for (const c of hostileCorpus(outside)) {
      const dest = join(work, 'host', c.id);
      await mkdir(dest, { recursive: true });
      outcomes[c.id] = await untar(Readable.from([c.tar]), dest).then(
        () => 'contained',
        (err: Error) => `refused: ${err.message}`,
      );
      expect(await outsideState(outside), `${c.id}: ${outcomes[c.id]}`).toBe(before);
    }
    expect((await readdir(work)).sort()).toEqual(['host', 'outside']);
    // Docker's host untar: names and links that leave the destination are refused, and so
    // is a write through a symlink; an absolute name lands below the destination.
    const contained = Object.keys(outcomes).filter((id) => outcomes[id] === 'contained');
    expect(contained.sort(), JSON.stringify(outcomes, null, 1)).toEqual(
      ['absolute', 'devices', 'file-over-symlink', 'hardlink-to-symlink', 'whiteout-dotdot'].sort(),
    );
    expect(await readFile(join(work, 'host', 'absolute', outside, 'marker'), 'utf8')).toBe('pwned');
    expect((await lstat(join(work, 'host', 'file-over-symlink', 'to-marker'))).isFile()).toBe(true);
  }, 240_000);

  it('berth cp - CTR:DEST takes the corpus as docker cp does, and copying the results back out stays in the destination', async () => {
    const before = await outsideState(outside);
    const outcomes: Record<string, string> = {};
    for (const c of hostileCorpus(outside)) {
      await berthOk(['exec', ctr, 'mkdir', '-p', `/dst/${c.id}`]);
      const r = await berth(['cp', '-', `${ctr}:/dst/${c.id}`], { input: c.tar });
      outcomes[c.id] = r.code === 0 ? 'contained' : `refused: ${r.stderr.trim()}`;
      expect(await outsideState(outside), `${c.id}: ${outcomes[c.id]}`).toBe(before);
    }
    // The verdicts of dockerd 20.10 on the same corpus (see apps/daemon/test/hostile-archives.test.ts).
    const contained = Object.keys(outcomes).filter((id) => outcomes[id] === 'contained');
    expect(contained.sort(), JSON.stringify(outcomes, null, 1)).toEqual(
      ['absolute', 'devices', 'file-over-symlink', 'hardlink-to-symlink', 'opaque-via-symlink', 'symlink-deep', 'symlink-mkdir', 'symlink-write', 'whiteout-dotdot', 'whiteout-via-symlink'],
    );
    // What the container now holds (links to the host's outside among it) comes back out
    // to the host: links are copied as links, and nothing is written through them.
    const back = join(work, 'back');
    await mkdir(back);
    const r = await berth(['cp', `${ctr}:/dst`, back]);
    expect(r.code, r.stderr).toBe(0);
    expect(await outsideState(outside)).toBe(before);
    expect((await lstat(join(back, 'dst', 'symlink-write', 'evil'))).isSymbolicLink()).toBe(true);
    // The parent of a path as its name: `..` must not carry the copy out of the destination.
    const up = join(work, 'up', 'in');
    await mkdir(up, { recursive: true });
    await berth(['cp', `${ctr}:/dst/absolute/..`, up]);
    expect(await outsideState(outside)).toBe(before);
    expect((await readdir(work)).sort()).toEqual(['back', 'host', 'outside', 'up']);
    expect(await readdir(join(work, 'up'))).toEqual(['in']);
  }, 240_000);
});
