import { describe, expect, it } from 'vitest';
import { busyboxEngine, uniq } from './helpers.js';

const t = busyboxEngine();

describe('prune, df, events since', () => {
  it('prunes stopped containers, dangling images and unused networks; df adds it up', async () => {
    const { engine } = t;
    const since = Math.floor(Date.now() / 1000) - 1;
    const keep = await engine.containers.create({ Image: 'busybox', Cmd: ['sleep', '30'], HostConfig: { NetworkMode: 'none' } });
    await engine.containers.start(keep.Id);
    const gone = await engine.containers.create({ Image: 'busybox', Cmd: ['true'], Labels: { prune: 'me' }, HostConfig: { NetworkMode: 'none' } });
    const w = engine.containers.wait(gone.Id, 'next-exit');
    await engine.containers.start(gone.Id);
    await w;
    // A dangling image: commit untagged.
    const { Id: dangling } = await engine.images.commit(gone.Id, {});
    expect((await engine.images.list({ filters: { dangling: ['true'] } })).map((i) => i.Id)).toContain(dangling);
    const df = await engine.system.df();
    expect(df.Images.length).toBeGreaterThanOrEqual(2);
    expect(df.Containers.map((c) => c.Id)).toEqual(expect.arrayContaining([keep.Id, gone.Id]));
    expect(df.LayersSize).toBeGreaterThan(0);
    const pc = await engine.containers.prune({ filters: { label: ['prune=me'] } });
    expect(pc.ContainersDeleted).toEqual([gone.Id]);
    const pi = await engine.images.prune();
    expect(pi.ImagesDeleted).toContainEqual({ Deleted: dangling });
    expect((await engine.images.inspect('busybox')).RepoTags).toContain('busybox:latest');
    const info = await engine.system.info();
    expect(info.ContainersRunning).toBe(1);
    // Past events are replayed with `since`.
    const sub = engine.events.subscribe({ since, until: Math.floor(Date.now() / 1000) + 1, filters: { type: ['container'], event: ['destroy'] } });
    const seen: string[] = [];
    for await (const e of sub) seen.push(e.Actor.ID);
    expect(seen).toEqual([gone.Id]);
    await engine.containers.remove(keep.Id, { force: true });
  });

  it('renames, refuses a taken name, and lists with before/since', async () => {
    const { engine } = t;
    const a = await engine.containers.create({ Image: 'busybox', Cmd: ['true'], HostConfig: { NetworkMode: 'none' } }, { name: uniq('a') });
    await new Promise((r) => setTimeout(r, 20));
    const bName = uniq('b');
    const b = await engine.containers.create({ Image: 'busybox', Cmd: ['true'], HostConfig: { NetworkMode: 'none' } }, { name: bName });
    await expect(engine.containers.rename(a.Id, bName)).rejects.toThrow(/is already in use by container/);
    expect((await engine.containers.list({ all: true, filters: { since: [a.Id] } })).map((c) => c.Id)).toEqual([b.Id]);
    expect((await engine.containers.list({ all: true, filters: { before: [b.Id] } })).map((c) => c.Id)).toContain(a.Id);
    expect((await engine.containers.list({ all: true, limit: 1 })).map((c) => c.Id)).toEqual([b.Id]);
    await engine.containers.remove(a.Id);
    await engine.containers.remove(b.Id);
  });

  it('updates the restart policy and resources (docker update)', async () => {
    const { engine } = t;
    const { Id } = await engine.containers.create({ Image: 'busybox', Cmd: ['sleep', '30'], HostConfig: { NetworkMode: 'none' } });
    await engine.containers.start(Id);
    const res = await engine.containers.update(Id, { RestartPolicy: { Name: 'unless-stopped' }, Memory: 64 * 1024 * 1024 });
    expect(res.Warnings).toHaveLength(1);
    const hc = (await engine.containers.inspect(Id)).HostConfig;
    expect(hc.RestartPolicy).toEqual({ Name: 'unless-stopped', MaximumRetryCount: 0 });
    expect(hc.Memory).toBe(64 * 1024 * 1024);
    await expect(engine.containers.update(Id, { RestartPolicy: { Name: 'bogus' as 'always' } })).rejects.toMatchObject({ code: 'InvalidArgument' });
    await engine.containers.remove(Id, { force: true });
  });
});
