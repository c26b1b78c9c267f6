import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import tar from 'tar-stream';
import { buildBusyboxLayout } from '@berth/fixtures';
import type { ProgressMessage } from '../src/index.js';
import { openTestEngine, uniq, type TestEngine } from './helpers.js';

// What Docker 20.10 answers, asked of a reference dockerd: commit's Parent and the fields of
// inspect/history/list that follow from it, and the exact `docker load` stream.

let t: TestEngine;
let base: string;
let baseId: string;

beforeAll(async () => {
  t = await openTestEngine();
  const layout = await buildBusyboxLayout();
  base = `${uniq('cl-base')}:1`;
  const img = await t.engine.images.loadLayout(layout.layoutDir, undefined);
  await t.engine.images.tag(img.Id, base);
  baseId = img.Id;
});
afterAll(async () => {
  await t?.cleanup();
});

async function ranContainer(cmd: string[]): Promise<string> {
  const { engine } = t;
  const { Id } = await engine.containers.create({ Image: base, Cmd: cmd, HostConfig: { NetworkMode: 'none' } });
  const w = engine.containers.wait(Id, 'next-exit');
  await engine.containers.start(Id);
  expect((await w).StatusCode).toBe(0);
  return Id;
}

async function saved(refs: string[]): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of t.engine.images.save(refs)) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function load(engine: TestEngine['engine'], archive: Buffer, quiet?: boolean): Promise<ProgressMessage[]> {
  const messages: ProgressMessage[] = [];
  await engine.images.load(Readable.from([archive]), { ...(quiet !== undefined ? { quiet } : {}), onMessage: (m) => messages.push(m) });
  return messages;
}

describe('commit', () => {
  it("records the container's image as Parent, with Container and ContainerConfig, as Docker", async () => {
    const { engine } = t;
    const ctr = await ranContainer(['touch', '/test']);
    const { Id } = await engine.images.commit(ctr, { author: 'Ann <a@b>', comment: 'my msg' });
    const img = await engine.images.inspect(Id);
    expect(img.Parent).toBe(baseId);
    expect(img.Container).toBe(ctr);
    expect(img.Comment).toBe('my msg');
    expect(img.Author).toBe('Ann <a@b>');
    expect(img.DockerVersion).toMatch(/^\d+\.\d+\.\d+/);
    // Without a config in the request Docker commits the container's config whole.
    expect(img.ContainerConfig?.Hostname).toBe(ctr.slice(0, 12));
    expect(img.ContainerConfig?.Cmd).toEqual(['touch', '/test']);
    expect(img.ContainerConfig?.Image).toBe(base);
    expect(img.Config.Hostname).toBe(ctr.slice(0, 12));
    expect(img.Config.Cmd).toEqual(['touch', '/test']);
    expect(Object.keys(img.Config).slice(0, 6)).toEqual(['Hostname', 'Domainname', 'User', 'AttachStdin', 'AttachStdout', 'AttachStderr']);
    expect(img.RootFS.Layers).toHaveLength(2);

    const listed = (await engine.images.list({ all: true })).find((i) => i.Id === Id);
    expect(listed?.ParentId).toBe(baseId);

    // History: the top entry is the commit (Cmd joined, untagged: null), the next takes the parent's ID and tags.
    const hist = await engine.images.history(Id);
    expect(hist[0]).toMatchObject({ Id, CreatedBy: 'touch /test', Comment: 'my msg', Tags: null });
    expect(hist[1]).toMatchObject({ Id: baseId, Tags: [base] });

    // A pulled (or loaded) image has none of it.
    const b = await engine.images.inspect(base);
    expect(b.Parent).toBe('');
    expect(b.Container).toBe('');
    expect(b.ContainerConfig).toMatchObject({ Hostname: '', Cmd: null, Env: null, Labels: null, Image: '' });
    await engine.containers.remove(ctr);
  });

  it('keeps a parent while children exist and removes it with the last untagged child', async () => {
    const { engine } = t;
    const parentRef = `${uniq('cl-parent')}:1`;
    await engine.images.tag(base, parentRef);
    const ctr1 = await ranContainer(['touch', '/one']);
    const { Id: mid } = await engine.images.commit(ctr1, {});
    await engine.containers.remove(ctr1);
    const midRef = `${uniq('cl-mid')}:1`;
    await engine.images.tag(mid, midRef);
    const { Id: runner } = await engine.containers.create({ Image: midRef, Cmd: ['touch', '/two'], HostConfig: { NetworkMode: 'none' } });
    const w = engine.containers.wait(runner, 'next-exit');
    await engine.containers.start(runner);
    await w;
    const topRef = `${uniq('cl-top')}:1`;
    const { Id: top } = await engine.images.commit(runner, { repo: topRef.split(':')[0]!, tag: '1' });
    await engine.containers.remove(runner);
    expect((await engine.images.inspect(top)).Parent).toBe(mid);

    // By ID: a hard conflict, even forced.
    await expect(engine.images.remove(mid, { force: true })).rejects.toThrow(/\(cannot be forced\) - image has dependent child images/);
    // By its last tag: untagged only; the image stays for its child.
    expect(await engine.images.remove(midRef)).toEqual([{ Untagged: midRef }]);
    expect((await engine.images.inspect(mid)).RepoTags).toEqual([]);
    // Dangling-only prune leaves it: it is not a head.
    const pruned = await engine.images.prune();
    expect(pruned.ImagesDeleted.map((d) => d.Deleted)).not.toContain(mid);
    // Removing the child takes the untagged parent with it.
    expect(await engine.images.remove(topRef)).toEqual([{ Untagged: topRef }, { Deleted: top }, { Deleted: mid }]);
    await engine.images.remove(parentRef);
  });
});

describe('commit of a container that changed nothing', () => {
  it("adds no layer (the runtime's /etc mount points are not changes) and says empty_layer, as Docker", async () => {
    const { engine } = t;
    const ctr = await ranContainer(['true']);
    const { Id } = await engine.images.commit(ctr, {});
    expect((await engine.images.inspect(Id)).RootFS.Layers).toEqual((await engine.images.inspect(base)).RootFS.Layers);
    expect((await engine.images.history(Id))[0]).toMatchObject({ Id, Size: 0, CreatedBy: 'true' });
    // A real change under /etc is kept, and /etc with it.
    const changed = await ranContainer(['sh', '-c', 'echo x > /etc/berth-marker']);
    const { Id: withChange } = await engine.images.commit(changed, {});
    expect((await engine.images.inspect(withChange)).RootFS.Layers).toHaveLength(2);
    expect((await engine.images.history(withChange))[0]?.Size).toBe(2);
    await engine.containers.remove(ctr);
    await engine.containers.remove(changed);
    await engine.images.remove(Id);
    await engine.images.remove(withChange);
  });
});

describe('load', () => {
  it('reports each loaded tag once, and the rename when the tag moves', async () => {
    const { engine } = t;
    const ref = `${uniq('cl-saved')}:1`;
    await engine.images.tag(base, ref);
    const archive = await saved([ref]);
    // The image and its layers are here: no progress, one line (docker-py counts them).
    expect(await load(engine, archive, false)).toEqual([{ stream: `Loaded image: ${ref}\n` }]);

    const ctr = await ranContainer(['touch', '/x']);
    const { Id: other } = await engine.images.commit(ctr, {});
    await engine.containers.remove(ctr);
    await engine.images.tag(other, ref);
    expect(await load(engine, archive)).toEqual([
      { stream: `The image ${ref} already exists, renaming the old one with ID ${other} to empty string\n` },
      { stream: `Loaded image: ${ref}\n` },
    ]);
    expect((await engine.images.inspect(ref)).Id).toBe(baseId);
    await engine.images.remove(ref);
    await engine.images.remove(other);
  });

  it("shows 'Loading layer' for new layers unless quiet; untagged images are reported together", async () => {
    const { engine } = t;
    const ctr = await ranContainer(['touch', '/y']);
    const { Id: child } = await engine.images.commit(ctr, {});
    await engine.containers.remove(ctr);
    const archive = await saved([baseId, child]);
    const layers = (await engine.images.inspect(child)).RootFS.Layers;

    const other = await openTestEngine();
    try {
      const loud = await load(other.engine, archive, false);
      const progress = loud.filter((m) => m.status === 'Loading layer');
      // The short chain IDs of the layers, each ending at its total.
      const ids = [...new Set(progress.map((m) => m.id))];
      expect(ids).toHaveLength(2);
      expect(ids[0]).toBe(layers[0]!.slice(7, 19));
      for (const id of ids) {
        const last = progress.filter((m) => m.id === id).at(-1)!;
        expect(last.progressDetail?.current).toBe(last.progressDetail?.total);
        expect(last.progress).toMatch(/^\[={50}>\] /);
      }
      // No image had a tag: the IDs, in one message.
      expect(loud.at(-1)).toEqual({ stream: `Loaded image ID: ${baseId}\nLoaded image ID: ${child}\n` });
    } finally {
      await other.cleanup();
    }
    const quiet = await openTestEngine();
    try {
      expect(await load(quiet.engine, archive, true)).toEqual([{ stream: `Loaded image ID: ${baseId}\nLoaded image ID: ${child}\n` }]);
    } finally {
      await quiet.cleanup();
    }
    await engine.images.remove(child);
  });

  it('saves an image named twice as one entry with both tags, as Docker', async () => {
    const { engine } = t;
    const a = `${uniq('cl-twice-a')}:1`;
    const b = `${uniq('cl-twice-b')}:1`;
    await engine.images.tag(base, a);
    await engine.images.tag(base, b);
    const archive = await saved([a, baseId, b]);
    const extract = tar.extract();
    let manifest = '';
    const reading = (async () => {
      for await (const entry of extract) {
        const chunks: Buffer[] = [];
        for await (const c of entry) chunks.push(c as Buffer);
        if (entry.header.name === 'manifest.json') manifest = Buffer.concat(chunks).toString();
      }
    })();
    extract.end(archive);
    await reading;
    const entries = JSON.parse(manifest) as { RepoTags: string[] }[];
    expect(entries.map((e) => e.RepoTags)).toEqual([[a, b]]);
    expect(await load(engine, archive)).toEqual([{ stream: `Loaded image: ${a}\n` }, { stream: `Loaded image: ${b}\n` }]);
    await engine.images.remove(a);
    await engine.images.remove(b);
  });

  it('refuses what is not an archive', async () => {
    await expect(t.engine.images.load(Readable.from([Buffer.from('abc')]))).rejects.toThrow(/tar/);
  });
});
