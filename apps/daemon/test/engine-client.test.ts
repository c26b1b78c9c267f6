import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PassThrough, Readable } from 'node:stream';
import { EngineClient, demultiplexStream, type EventMessage, type JsonMessage } from '@berth/engine-api';
import { ConflictError, NotFoundError } from '@berth/image-format';
import { useTestDaemon } from './support/fixture.js';

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

async function demux(stream: Readable): Promise<{ stdout: string; stderr: string }> {
  const out = new PassThrough();
  const err = new PassThrough();
  await demultiplexStream(stream, out, err);
  out.end();
  err.end();
  return { stdout: (await out.toArray()).join(''), stderr: (await err.toArray()).join('') };
}

// EngineClient over berthd over the real engine (network mode none: no bridge needed).
describe('EngineClient against berthd', () => {
  const t = useTestDaemon({ registry: true });
  let c: EngineClient;
  const suffix = Math.random().toString(16).slice(2, 8);
  const none = { HostConfig: { NetworkMode: 'none' } };

  beforeAll(async () => {
    c = new EngineClient({ host: t.host });
  });
  afterAll(async () => {
    if (c) {
      for (const x of await c.containerList({ all: true }).catch(() => [])) await c.containerRemove(x.Id, { force: true }).catch(() => {});
      c.close();
    }
  });

  it('pulls with a JSON progress stream and lists and inspects the image', async () => {
    const msgs = await collect<JsonMessage>(c.imagePull(t.reg.busybox));
    expect(msgs.some((m) => m.status?.startsWith('Digest: sha256:'))).toBe(true);
    expect(msgs.at(-1)?.status).toMatch(/^Status: (Downloaded newer image|Image is up to date) for /);
    const list = await c.imageList();
    expect(list.some((i) => i.RepoTags.includes(t.reg.busybox))).toBe(true);
    const img = await c.imageInspect(t.reg.busybox);
    expect(img.Id).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(img.Os).toBe('linux');
    expect((await c.imageHistory(t.reg.busybox)).length).toBeGreaterThan(0);
    // older clients get VirtualSize (removed in API 1.44)
    const old = new EngineClient({ host: t.host, apiVersion: '1.43' });
    const oldList = await old.imageList();
    expect(oldList[0]!.VirtualSize).toBe(oldList[0]!.Size);
    expect((await old.imageInspect(t.reg.busybox)).VirtualSize).toBe(img.Size);
    expect(list[0]!.VirtualSize).toBeUndefined();
    old.close();
    await expect(collect(c.imagePull(`${t.reg.registry.host}/absent-${suffix}:1`))).rejects.toBeInstanceOf(NotFoundError);
  });

  it('runs a container: create, wait registered before start, logs, inspect', async () => {
    const { Id } = await c.containerCreate({ Image: t.reg.busybox, Cmd: ['sh', '-c', 'echo out; echo err >&2; exit 2'], ...none }, { name: `run-${suffix}` });
    let headers = false;
    const waited = c.containerWait(Id, { condition: 'next-exit', onHeaders: () => (headers = true) });
    for (let i = 0; i < 50 && !headers; i++) await new Promise((r) => setTimeout(r, 20));
    expect(headers).toBe(true);
    await c.containerStart(Id);
    expect(await waited).toEqual({ StatusCode: 2, Error: null });
    expect(await demux(await c.containerLogs(Id))).toEqual({ stdout: 'out\n', stderr: 'err\n' });
    const info = await c.containerInspect(`run-${suffix}`);
    expect(info.State).toMatchObject({ Status: 'exited', ExitCode: 2, Running: false });
    await expect(c.containerCreate({ Image: t.reg.busybox, ...none }, { name: `run-${suffix}` })).rejects.toBeInstanceOf(ConflictError);
  });

  it('attaches over a hijacked connection to a running container, with stdin', async () => {
    const { Id } = await c.containerCreate({ Image: t.reg.busybox, Cmd: ['sh', '-c', 'read line; echo got:$line'], OpenStdin: true, StdinOnce: true, AttachStdin: true, ...none });
    await c.containerStart(Id);
    const a = await c.containerAttach(Id, { stdin: true });
    expect(a.multiplexed).toBe(true);
    const out = demux(a.stream);
    a.stream.write('hello\n');
    expect((await out).stdout).toBe('got:hello\n');
    expect((await c.containerWait(Id)).StatusCode).toBe(0);
  });

  it('exec: create, start attached, inspect the exit code', async () => {
    const { Id } = await c.containerCreate({ Image: t.reg.busybox, Cmd: ['sleep', '300'], ...none }, { name: `exec-${suffix}` });
    await c.containerStart(Id);
    const ex = await c.execCreate(Id, { Cmd: ['sh', '-c', 'echo in-exec; exit 6'], AttachStdout: true, AttachStderr: true });
    const s = await c.execStart(ex.Id);
    expect((await demux(s!.stream)).stdout).toBe('in-exec\n');
    let inspect = await c.execInspect(ex.Id);
    for (let i = 0; i < 50 && inspect.Running; i++) {
      await new Promise((r) => setTimeout(r, 20));
      inspect = await c.execInspect(ex.Id);
    }
    expect(inspect.ExitCode).toBe(6);
  });

  it('list, rename, pause/unpause, kill, remove', async () => {
    const listed = await c.containerList({ filters: { name: [`exec-${suffix}`] } });
    expect(listed).toHaveLength(1);
    expect(listed[0]!.State).toBe('running');
    await c.containerRename(`exec-${suffix}`, `renamed-${suffix}`);
    expect((await c.containerInspect(`renamed-${suffix}`)).Name).toBe(`/renamed-${suffix}`);
    await c.containerPause(`renamed-${suffix}`);
    expect((await c.containerInspect(`renamed-${suffix}`)).State.Status).toBe('paused');
    await c.containerUnpause(`renamed-${suffix}`);
    await c.containerKill(`renamed-${suffix}`, { signal: 'SIGKILL' });
    expect((await c.containerWait(`renamed-${suffix}`)).StatusCode).toBe(137);
    await c.containerRemove(`renamed-${suffix}`);
    await expect(c.containerInspect(`renamed-${suffix}`)).rejects.toBeInstanceOf(NotFoundError);
  });

  it('images: tag, save, remove, load, import, commit', async () => {
    await c.imageTag(t.reg.busybox, `tagged-${suffix}`, 'v1');
    const tar = await c.imageSave([`tagged-${suffix}:v1`]);
    const chunks: Buffer[] = [];
    for await (const ch of tar) chunks.push(ch as Buffer);
    expect(Buffer.concat(chunks).length).toBeGreaterThan(1024);
    expect(await c.imageRemove(`tagged-${suffix}:v1`)).toEqual([{ Untagged: `tagged-${suffix}:v1` }]);
    const loaded = await collect(c.imageLoad(Readable.from(chunks)));
    expect(loaded.map((m) => m.stream).join('')).toContain(`Loaded image: tagged-${suffix}:v1`);

    const { Id } = await c.containerCreate({ Image: t.reg.busybox, Cmd: ['sh', '-c', 'echo x > /x'], ...none });
    await c.containerStart(Id);
    await c.containerWait(Id);
    const committed = await c.commit(Id, { repo: `committed-${suffix}`, tag: '1', changes: ['CMD ["cat", "/x"]'] });
    expect(committed.Id).toMatch(/^sha256:/);
    expect((await c.imageInspect(`committed-${suffix}:1`)).Config.Cmd).toEqual(['cat', '/x']);

    const exported = await c.containerExport(Id);
    const imported = await collect(c.imageImport(exported, { repo: `imported-${suffix}`, tag: '1' }));
    expect(imported.at(-1)?.status).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect((await c.imageInspect(`imported-${suffix}:1`)).RootFS.Layers).toHaveLength(1);
  });

  it('volumes and networks', async () => {
    const v = await c.volumeCreate({ Name: `vol-${suffix}`, Labels: { a: 'b' } });
    expect(v).toMatchObject({ Name: `vol-${suffix}`, Driver: 'local', Labels: { a: 'b' } });
    expect((await c.volumeList({ filters: { label: ['a=b'] } })).Volumes.map((x) => x.Name)).toEqual([`vol-${suffix}`]);
    expect((await c.volumeInspect(`vol-${suffix}`)).Mountpoint).toContain(`vol-${suffix}`);
    await c.volumeRemove(`vol-${suffix}`);
    await expect(c.volumeInspect(`vol-${suffix}`)).rejects.toBeInstanceOf(NotFoundError);

    const n = await c.networkCreate({ Name: `net-${suffix}` });
    expect(n.Id).toMatch(/^[0-9a-f]{64}$/);
    expect((await c.networkInspect(`net-${suffix}`)).Driver).toBe('bridge');
    expect((await c.networkList()).map((x) => x.Name)).toEqual(expect.arrayContaining(['bridge', 'host', 'none', `net-${suffix}`]));
    await c.networkRemove(`net-${suffix}`);
    await expect(c.networkInspect(`net-${suffix}`)).rejects.toBeInstanceOf(NotFoundError);
  });

  it('events stream the container lifecycle with filters; df and info count it', async () => {
    const events = c.events({ filters: { type: ['container'], event: ['create', 'start', 'die'] } });
    const it = events[Symbol.asyncIterator]();
    const first = it.next();
    await new Promise((r) => setTimeout(r, 100));
    const { Id } = await c.containerCreate({ Image: t.reg.busybox, Cmd: ['true'], ...none });
    await c.containerStart(Id);
    const seen: EventMessage[] = [(await first).value as EventMessage];
    while (seen.length < 3) seen.push((await it.next()).value as EventMessage);
    await it.return?.(undefined);
    expect(seen.map((e) => [e.Action, e.Actor.ID])).toEqual([
      ['create', Id],
      ['start', Id],
      ['die', Id],
    ]);
    const info = await c.info();
    expect(info.Containers).toBeGreaterThan(0);
    expect(info.Images).toBeGreaterThan(0);
    const df = await c.df();
    expect(df.Images.length).toBeGreaterThan(0);
  });
});
