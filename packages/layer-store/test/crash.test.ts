import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Digest } from '@berth/image-format';
import { FileContentStore } from '../src/content/file-store.js';
import { unpackLayer } from '../src/layer/unpack.js';
import { unpackLayersConcurrently } from '../src/layer/unpack-chain.js';
import { OverlaySnapshotter } from '../src/snapshot/overlay.js';
import { buildLayer, type TestEntry } from '../src/testsuite/layers.js';
import { patternChunk } from './crash-data.js';

const here = dirname(fileURLToPath(import.meta.url));
let work: string;
let child: ChildProcess | undefined;

beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), 'berth-crash-'));
});
afterEach(async () => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await rm(work, { recursive: true, force: true });
});

function startChild(args: string[]): ChildProcess {
  child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', join(here, 'crash-child.ts'), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return child;
}

/** Resolves once `until` holds (checked on each stdout line or every 5 ms), bounded. */
async function killWhen(c: ChildProcess, until: (out: string) => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  let out = '';
  let err = '';
  c.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  c.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (c.exitCode !== null) throw new Error(`child exited early (${c.exitCode}): ${out} ${err}`);
    if (await until(out)) {
      c.kill('SIGKILL');
      await new Promise((r) => c.once('exit', r));
      return;
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`condition not reached in ${timeoutMs} ms: ${out} ${err}`);
}

describe('crash safety (kill -9 of a real process)', () => {
  it('mid-ingest: no blob becomes visible, the partial ingest resumes to a verified blob', async () => {
    const root = join(work, 'root');
    const size = 6 * 1024 * 1024;
    const digest = `sha256:${createHash('sha256').update(patternChunk(0, size)).digest('hex')}` as Digest;
    const c = startChild(['ingest', root, 'crash-ref', digest, String(size)]);
    await killWhen(c, (out) => /progress (\d+)\n/.test(out) && Math.max(...[...out.matchAll(/progress (\d+)/g)].map((m) => Number(m[1]))) >= 3 * 1024 * 1024);

    const store = await FileContentStore.open(root);
    try {
      expect(await store.has(digest)).toBe(false);
      const blobs = [];
      for await (const b of store.list()) blobs.push(b);
      expect(blobs).toEqual([]);
      const offset = await store.ingestedBytes('crash-ref');
      expect(offset).toBeGreaterThan(0);
      expect(offset).toBeLessThan(size);
      // The dead writer's lock is taken over; the rest of the "download" completes it.
      await store.write('crash-ref', { digest, size }, Readable.from([patternChunk(offset, size - offset)]), { offset });
      expect(await store.has(digest)).toBe(true);
      const check = await store.read(digest, { verify: true });
      for await (const _ of check) void _;
      expect(await store.listIngests()).toEqual([]);
    } finally {
      store.close();
    }
  });

  it('two processes ingesting one digest write it once', async () => {
    const root = join(work, 'root');
    const size = 4 * 1024 * 1024;
    const digest = `sha256:${createHash('sha256').update(patternChunk(0, size)).digest('hex')}` as Digest;
    const c = startChild(['ingest', root, 'other-process', digest, String(size)]);
    let out = '';
    c.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => c.once('exit', r));
    for (let i = 0; i < 3000 && !out.includes('progress'); i++) await new Promise((r) => setTimeout(r, 10));
    expect(out).toContain('progress');
    const store = await FileContentStore.open(root);
    try {
      let pulled = 0;
      const mine = new Readable({
        read() {
          pulled++;
          this.push(patternChunk(0, size));
          this.push(null);
        },
      });
      // Waits for the other process's ingest, then finds the blob there.
      await store.ingest('this-process', { digest, size }, mine);
      expect(pulled).toBe(0);
      expect(await store.has(digest)).toBe(true);
      expect(await exited).toBe(0);
      expect(out).toContain('done');
      expect(await store.listIngests()).toEqual([]);
    } finally {
      store.close();
    }
  });

  it('mid-apply: reopening leaves no half snapshot, and the layer unpacks again', async () => {
    const root = join(work, 'root');
    const entries: TestEntry[] = [{ name: 'd/', type: 'dir' }];
    for (let i = 0; i < 20_000; i++) entries.push({ name: `d/f${i}`, content: `file ${i}\n`.repeat(20) });
    const layer = buildLayer(entries);
    const pre = await FileContentStore.open(root);
    await pre.ingest('layer', { digest: layer.digest, size: layer.blob.length }, layer.blob);
    pre.close();
    const snapDir = join(root, 'snapshots', 'overlay');

    const c = startChild(['apply', root, layer.digest, String(layer.blob.length), layer.mediaType]);
    await killWhen(c, async (out) => {
      if (!out.includes('applying')) return false;
      for (const id of await readdir(snapDir).catch(() => [] as string[])) {
        if (!/^\d+$/.test(id)) continue;
        const files = await readdir(join(snapDir, id, 'fs', 'd')).catch(() => [] as string[]);
        if (files.length > 200) return true;
      }
      return false;
    });
    // The kill left a half-applied transient snapshot on disk.
    expect((await readdir(snapDir)).filter((n) => /^\d+$/.test(n)).length).toBe(1);

    const store = await FileContentStore.open(root);
    const sn = await OverlaySnapshotter.open(root);
    try {
      expect(await sn.walk()).toEqual([]);
      expect((await readdir(snapDir)).filter((n) => /^\d+$/.test(n))).toEqual([]);
      expect(await store.has(layer.digest)).toBe(true);
      const r = await unpackLayer(store, sn, { digest: layer.digest, size: layer.blob.length, mediaType: layer.mediaType }, undefined, { diffId: layer.diffId });
      expect(r.applied).toBe(true);
      expect((await sn.walk()).map((s) => [s.key, s.kind])).toEqual([[r.chainId, 'committed']]);
    } finally {
      sn.close();
      store.close();
    }
  });

  it('mid-concurrent-unpack: reopening leaves only committed layers of the chain, and the unpack completes', async () => {
    const root = join(work, 'root');
    const layers = [0, 1, 2, 3].map((n) => {
      const entries: TestEntry[] = [{ name: `d${n}/`, type: 'dir' }];
      for (let i = 0; i < 8_000; i++) entries.push({ name: `d${n}/f${i}`, content: `layer ${n} file ${i}\n`.repeat(20) });
      return buildLayer(entries);
    });
    const pre = await FileContentStore.open(root);
    for (const l of layers) await pre.ingest(`layer-${l.digest}`, { digest: l.digest, size: l.blob.length }, l.blob);
    pre.close();
    const snapDir = join(root, 'snapshots', 'overlay');
    const c = startChild(['chain', root, ...layers.flatMap((l) => [l.digest, String(l.blob.length), l.mediaType])]);
    // Killed once at least two layers are half-applied side by side.
    await killWhen(c, async (out) => {
      if (!out.includes('applying')) return false;
      let busy = 0;
      for (const id of await readdir(snapDir).catch(() => [] as string[])) {
        if (!/^\d+$/.test(id)) continue;
        const sub = await readdir(join(snapDir, id, 'fs')).catch(() => [] as string[]);
        const files = sub[0] ? await readdir(join(snapDir, id, 'fs', sub[0])).catch(() => [] as string[]) : [];
        if (files.length > 100) busy++;
      }
      return busy >= 2;
    });
    expect((await readdir(snapDir)).filter((n) => /^\d+$/.test(n)).length).toBeGreaterThanOrEqual(2);

    const store = await FileContentStore.open(root);
    const sn = await OverlaySnapshotter.open(root);
    try {
      const left = await sn.walk();
      expect(left.every((s) => s.kind === 'committed')).toBe(true);
      expect((await readdir(snapDir)).filter((n) => /^\d+$/.test(n))).toHaveLength(left.length);
      const descs = layers.map((l) => ({ digest: l.digest, size: l.blob.length, mediaType: l.mediaType }));
      const res = await unpackLayersConcurrently(store, sn, descs, { diffIds: layers.map((l) => l.diffId) });
      // walk() lists in creation order: layers committed before the kill come first.
      expect((await sn.walk()).map((s) => s.key).sort()).toEqual(res.map((r) => r.chainId).sort());
    } finally {
      sn.close();
      store.close();
    }
  });
});
