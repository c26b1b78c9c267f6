import { spawn } from 'node:child_process';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { chainIds, type Digest } from '@berth/image-format';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBigImageLayout, pushLayoutWithSkopeo, startRegistry, type BigImageLayout, type RunningRegistry } from '@berth/fixtures';
import { openTestEngine, type TestEngine } from './helpers.js';

let t: TestEngine;
let registry: RunningRegistry;
let big: BigImageLayout;
beforeAll(async () => {
  big = await buildBigImageLayout(undefined, { scale: 0.01 });
  registry = await startRegistry();
  await pushLayoutWithSkopeo(big.layoutDir, 'latest', `${registry.host}/bench/big:small`);
  t = await openTestEngine();
});
afterAll(async () => {
  await t?.cleanup();
  await registry?.stop();
});

describe('pull with layers unpacked in parallel', () => {
  it('gives the same tree as applying the layers in order (whiteouts, opaque dirs, hardlinks)', async () => {
    const { engine } = t;
    const img = await engine.images.pull(`${registry.host}/bench/big:small`);
    expect(img.RootFS.Layers).toHaveLength(big.layers.length);
    // Every layer went through layer-store: its ls_layers row names its blob.
    const db = new Database(join(t.root, 'berth.db'), { readonly: true });
    try {
      const rows = chainIds(img.RootFS.Layers as Digest[]).map((c) => db.prepare('SELECT blob_digest FROM ls_layers WHERE chain_id = ?').get(c) as { blob_digest: string } | undefined);
      expect(rows.map((r) => r?.blob_digest)).toEqual(big.layers.map((l) => l.digest));
    } finally {
      db.close();
    }
    const { Id } = await engine.containers.create({ Image: img.Id, Cmd: ['/nothing'], HostConfig: { NetworkMode: 'none' } });
    const tar = spawn('tar', ['-tv'], { stdio: ['pipe', 'pipe', 'ignore'] });
    (await engine.containers.export(Id)).pipe(tar.stdin);
    let listing = '';
    for await (const c of tar.stdout) listing += (c as Buffer).toString();
    const names = listing.split('\n').map((l) => l.replace(/^\S+\s+\S+\s+\d+\s+\S+\s+\S+\s+/, '').replace(/ link to .*$/, '').replace(/ -> .*$/, ''));
    const has = (p: string): boolean => names.some((n) => n === p || n === p + '/');
    expect(has(big.special.whiteoutFile)).toBe(false);
    expect(has(big.special.whiteoutDir)).toBe(false);
    expect(has(big.special.opaqueDir)).toBe(true);
    for (const [link, target] of big.special.hardlinks) {
      expect(has(link)).toBe(true);
      expect(has(target)).toBe(true);
    }
    // No whiteout markers leak into the merged view.
    expect(names.some((n) => n.includes('.wh.'))).toBe(false);
    // A second pull finds every layer and changes nothing.
    const progress: string[] = [];
    const again = await engine.images.pull(`${registry.host}/bench/big:small`, { onProgress: (m) => progress.push(m.status ?? '') });
    expect(again.Id).toBe(img.Id);
    expect(progress).not.toContain('Pull complete');
    await engine.containers.remove(Id);
  });

  it('applying layers from the download stream gives the same image and layer rows', async () => {
    process.env.BERTH_PULL_STREAM_APPLY = '1';
    let s: TestEngine;
    try {
      s = await openTestEngine();
    } finally {
      delete process.env.BERTH_PULL_STREAM_APPLY;
    }
    try {
      const img = await s.engine.images.pull(`${registry.host}/bench/big:small`);
      const db = new Database(join(s.root, 'berth.db'), { readonly: true });
      try {
        const rows = chainIds(img.RootFS.Layers as Digest[]).map((c) => db.prepare('SELECT blob_digest FROM ls_layers WHERE chain_id = ?').get(c) as { blob_digest: string } | undefined);
        expect(rows.map((r) => r?.blob_digest)).toEqual(big.layers.map((l) => l.digest));
        const kinds = db.prepare("SELECT kind, COUNT(*) AS n FROM ls_snapshots GROUP BY kind").all() as { kind: string; n: number }[];
        expect(kinds).toEqual([{ kind: 'committed', n: big.layers.length }]);
      } finally {
        db.close();
      }
      const { Id } = await s.engine.containers.create({ Image: img.Id, Cmd: ['/nothing'], HostConfig: { NetworkMode: 'none' } });
      expect((await s.engine.containers.archiveStat(Id, big.special.opaqueDir)).mode).toBeGreaterThan(0);
      await expect(s.engine.containers.archiveStat(Id, big.special.whiteoutFile)).rejects.toThrow();
    } finally {
      await s.cleanup();
    }
  });
});
