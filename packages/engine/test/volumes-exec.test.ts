import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collect, openTestEngine, text, uniq, type TestEngine } from './helpers.js';
import type { EventMessage, OutputChunk } from '../src/index.js';

let t: TestEngine;
beforeAll(async () => {
  t = await openTestEngine();
  await t.engine.images.ensureBuiltin('busybox');
  // An image with content at a volume path, to see copy-up.
  const { Id } = await t.engine.containers.create({ Image: 'busybox', Cmd: ['sh', '-c', 'mkdir -p /data && echo seed > /data/seed.txt'], HostConfig: { NetworkMode: 'none' } });
  const w = t.engine.containers.wait(Id, 'next-exit');
  await t.engine.containers.start(Id);
  await w;
  await t.engine.images.commit(Id, { repo: 'withdata', tag: 'latest', changes: ['VOLUME /data'] });
  await t.engine.containers.remove(Id);
});
afterAll(async () => {
  await t?.cleanup();
});

async function run(body: Parameters<TestEngine['engine']['containers']['create']>[0]): Promise<{ id: string; code: number; out: string }> {
  const { Id } = await t.engine.containers.create({ HostConfig: { NetworkMode: 'none' }, ...body });
  const w = t.engine.containers.wait(Id, 'next-exit');
  await t.engine.containers.start(Id);
  const { StatusCode } = await w;
  return { id: Id, code: StatusCode, out: text(await collect(await t.engine.containers.logs(Id, {}))) };
}

describe('volumes', () => {
  it('copies image content into a new named volume, keeps data across containers, refuses removal in use', async () => {
    const { engine } = t;
    const vol = uniq('vol');
    const a = await run({ Image: 'withdata', Cmd: ['sh', '-c', 'cat /data/seed.txt; echo more > /data/more.txt'], HostConfig: { NetworkMode: 'none', Binds: [`${vol}:/data`] } });
    expect(a).toMatchObject({ code: 0, out: 'seed\n' });
    const v = await engine.volumes.inspect(vol);
    expect(v.Mountpoint).toBe(`${t.root}/volumes/${vol}/_data`);
    const b = await run({ Image: 'busybox', Cmd: ['sh', '-c', 'ls /data | sort'], HostConfig: { NetworkMode: 'none', Binds: [`${vol}:/data:ro`] } });
    expect(b.out).toBe('more.txt\nseed.txt\n');
    await expect(engine.volumes.remove(vol)).rejects.toThrow(new RegExp(`remove ${vol}: volume is in use - \\[`));
    await engine.containers.remove(a.id);
    await engine.containers.remove(b.id);
    await engine.volumes.remove(vol);
    await expect(engine.volumes.inspect(vol)).rejects.toThrow(/no such volume/);
  });

  it('gives an image VOLUME an anonymous volume, removed with the container when asked', async () => {
    const { engine } = t;
    const a = await run({ Image: 'withdata', Cmd: ['cat', '/data/seed.txt'] });
    expect(a.out).toBe('seed\n');
    const info = await engine.containers.inspect(a.id);
    const m = info.Mounts.find((x) => x.Destination === '/data');
    expect(m?.Type).toBe('volume');
    expect(m?.Name).toMatch(/^[0-9a-f]{64}$/);
    expect((await engine.volumes.list({ filters: { dangling: ['false'] } })).Volumes.map((v) => v.Name)).toContain(m!.Name);
    await engine.containers.remove(a.id, { volumes: true });
    await expect(engine.volumes.inspect(m!.Name!)).rejects.toThrow(/no such volume/);
  });

  it('creates, lists with filters and prunes volumes', async () => {
    const { engine } = t;
    const name = uniq('lbl');
    await engine.volumes.create({ Name: name, Labels: { team: 'x' } });
    expect((await engine.volumes.create({ Name: name })).Name).toBe(name);
    expect((await engine.volumes.list({ filters: { label: ['team=x'] } })).Volumes.map((v) => v.Name)).toEqual([name]);
    const pruned = await engine.volumes.prune({ filters: { all: ['true'], label: ['team=x'] } });
    expect(pruned.VolumesDeleted).toEqual([name]);
    await expect(engine.volumes.create({ Name: 'bad/name' })).rejects.toThrow(/includes invalid characters/);
  });
});

describe('exec, attach, events, list filters', () => {
  it("stdin outlives an attached client unless StdinOnce (Docker's): a second attach still writes to it", async () => {
    const { engine } = t;
    const until = async (chunks: OutputChunk[], want: string): Promise<void> => {
      for (let i = 0; i < 100 && !text(chunks).includes(want); i++) await new Promise((r) => setTimeout(r, 50));
      expect(text(chunks)).toContain(want);
    };
    for (const tty of [false, true]) {
      const { Id } = await engine.containers.create({ Image: 'busybox', Cmd: ['sh', '-c', 'while read line; do echo "got $line"; done; echo stdin-closed; sleep 5'], OpenStdin: true, StdinOnce: false, Tty: tty, HostConfig: { NetworkMode: 'none' } });
      await engine.containers.start(Id);
      for (const word of ['first', 'second']) {
        const s = await engine.containers.attach(Id, { stdin: true, stdout: true, stream: true });
        const out: OutputChunk[] = [];
        s.output.on('data', (c: OutputChunk) => out.push(c));
        s.stdin!.write(`${word}\n`);
        await until(out, `got ${word}`);
        s.stdin!.end();
        s.close();
        await new Promise((r) => setTimeout(r, 200));
      }
      expect((await engine.containers.inspect(Id)).State.Running).toBe(true);
      await engine.containers.remove(Id, { force: true });
    }
    // StdinOnce without a TTY: the first client's end closes it (docker run -i < file)
    const { Id } = await engine.containers.create({ Image: 'busybox', Cmd: ['sh', '-c', 'while read line; do echo "got $line"; done; echo stdin-closed'], OpenStdin: true, StdinOnce: true, HostConfig: { NetworkMode: 'none' } });
    const s = await engine.containers.attach(Id, { stdin: true, stdout: true, stream: true });
    const out: OutputChunk[] = [];
    s.output.on('data', (c: OutputChunk) => out.push(c));
    const w = engine.containers.wait(Id, 'next-exit');
    await engine.containers.start(Id);
    s.stdin!.end('only\n');
    expect((await w).StatusCode).toBe(0);
    await until(out, 'got only\nstdin-closed\n');
    await engine.containers.remove(Id);
  });

  it('detach keys typed into an attached TTY end the attach and leave the container running (Docker daemon side)', async () => {
    const { engine } = t;
    const { Id } = await engine.containers.create({ Image: 'busybox', Cmd: ['sh'], OpenStdin: true, Tty: true, HostConfig: { NetworkMode: 'none' } });
    await engine.containers.start(Id);
    for (const [keys, seq] of [[undefined, '\x10\x11'], ['ctrl-a,x', '\x01x']] as const) {
      const s = await engine.containers.attach(Id, { stdin: true, stdout: true, stream: true, ...(keys ? { detachKeys: keys } : {}) });
      const out: OutputChunk[] = [];
      s.output.on('data', (c: OutputChunk) => out.push(c));
      const ended = new Promise((r) => s.output.on('end', r));
      s.stdin!.write(`echo "typed-$((6*7))"\n`);
      for (let i = 0; i < 100 && !text(out).includes('typed-42'); i++) await new Promise((r) => setTimeout(r, 50));
      expect(text(out)).toContain('typed-42');
      s.stdin!.write(seq);
      await ended;
      expect((await engine.containers.inspect(Id)).State.Running).toBe(true);
    }
    await expect(engine.containers.attach(Id, { stdin: true, stream: true, detachKeys: 'ctrl-1' })).rejects.toThrow("Unknown character: 'ctrl-1'");
    await engine.containers.remove(Id, { force: true });
  });

  it('execs in a running container and attaches to its output and stdin', async () => {
    const { engine } = t;
    const events: EventMessage[] = [];
    const sub = engine.events.subscribe({ filters: { type: ['container'] } });
    void (async () => {
      for await (const e of sub) events.push(e);
    })();
    const name = uniq('io');
    const { Id } = await engine.containers.create(
      { Image: 'busybox', Cmd: ['sh', '-c', 'while read line; do echo "got $line"; [ "$line" = bye ] && exit 0; done'], OpenStdin: true, AttachStdin: true, Labels: { app: 'io' }, HostConfig: { NetworkMode: 'none' } },
      { name },
    );
    const session = await engine.containers.attach(Id, { stdin: true, stdout: true, stderr: true, stream: true });
    const out: OutputChunk[] = [];
    session.output.on('data', (c: OutputChunk) => out.push(c));
    const ended = new Promise((r) => session.output.on('end', r));
    const w = engine.containers.wait(Id, 'next-exit');
    await engine.containers.start(Id);
    // exec while it runs
    const ex = await engine.containers.execCreate(Id, { Cmd: ['sh', '-c', 'echo in-exec; echo err-exec >&2; exit 4'], AttachStdout: true, AttachStderr: true });
    const es = await engine.containers.execStart(ex.Id, {});
    const execOut = await collect(es!.output);
    expect(text(execOut, 'stdout')).toBe('in-exec\n');
    expect(text(execOut, 'stderr')).toBe('err-exec\n');
    for (let i = 0; i < 50 && (await engine.containers.execInspect(ex.Id)).Running; i++) await new Promise((r) => setTimeout(r, 50));
    expect((await engine.containers.execInspect(ex.Id)).ExitCode).toBe(4);
    // list filters
    expect((await engine.containers.list({ filters: { label: ['app=io'], status: ['running'] } })).map((c) => c.Id)).toEqual([Id]);
    expect((await engine.containers.list({ filters: { ancestor: ['busybox'], name: [name] } })).map((c) => c.Id)).toEqual([Id]);
    expect(await engine.containers.list({ filters: { status: ['exited'], name: [name] } })).toEqual([]);
    session.stdin!.write('hello\n');
    session.stdin!.write('bye\n');
    expect((await w).StatusCode).toBe(0);
    await ended;
    expect(text(out)).toBe('got hello\ngot bye\n');
    await engine.containers.rename(Id, name + '-2');
    expect((await engine.containers.inspect(name + '-2')).Id).toBe(Id);
    await engine.containers.remove(Id);
    await new Promise((r) => setTimeout(r, 100));
    sub.close();
    const actions = events.filter((e) => e.Actor.ID === Id).map((e) => e.Action);
    expect(actions).toEqual(expect.arrayContaining(['create', 'start', 'die', 'rename', 'destroy']));
    expect(actions.indexOf('create')).toBeLessThan(actions.indexOf('start'));
  });

  it('follows logs until the container exits, with tail and timestamps', async () => {
    const { engine } = t;
    const { Id } = await engine.containers.create({ Image: 'busybox', Cmd: ['sh', '-c', 'for i in 1 2 3 4; do echo line$i; sleep 0.2; done'], HostConfig: { NetworkMode: 'none' } });
    await engine.containers.start(Id);
    const followed = await collect(await engine.containers.logs(Id, { follow: true }));
    expect(text(followed)).toBe('line1\nline2\nline3\nline4\n');
    expect(followed[0]?.timestamp).toMatch(/^\d{4}-\d\d-\d\dT/);
    const tail = await collect(await engine.containers.logs(Id, { tail: 2 }));
    expect(text(tail)).toBe('line3\nline4\n');
    await engine.containers.remove(Id);
  });

  it('exports a container filesystem as tar', async () => {
    const { engine } = t;
    const { Id } = await engine.containers.create({ Image: 'busybox', Cmd: ['sh', '-c', 'echo x > /exported'], HostConfig: { NetworkMode: 'none' } });
    const w = engine.containers.wait(Id, 'next-exit');
    await engine.containers.start(Id);
    await w;
    const tar = await engine.containers.export(Id);
    const { spawn } = await import('node:child_process');
    const lister = spawn('tar', ['-t'], { stdio: ['pipe', 'pipe', 'ignore'] });
    tar.pipe(lister.stdin);
    let names = '';
    for await (const c of lister.stdout) names += (c as Buffer).toString();
    expect(names.split('\n')).toEqual(expect.arrayContaining(['exported', 'bin/busybox']));
    await engine.containers.remove(Id);
  });
});
