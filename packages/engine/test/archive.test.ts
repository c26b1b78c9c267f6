import { existsSync } from 'node:fs';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { describe, expect, it } from 'vitest';
import { busyboxEngine, execText, tarNames, uniq } from './helpers.js';

const t = busyboxEngine();

async function tarOf(entries: { name: string; body?: string; type?: 'file' | 'directory' }[]): Promise<Readable> {
  const pack = tar.pack();
  for (const e of entries) {
    await new Promise<void>((res, rej) => pack.entry({ name: e.name, type: e.type ?? 'file', mode: 0o644 }, e.body ?? '', (err) => (err ? rej(err) : res())));
  }
  pack.finalize();
  return pack as unknown as Readable;
}

describe('docker cp (archive)', () => {
  it('copies into and out of a running container; links resolve inside the container', async () => {
    const { engine } = t;
    const { Id } = await engine.containers.create({ Image: 'busybox', Cmd: ['sh', '-c', 'ln -s / /escape; mkdir -p /dst; sleep 30'], HostConfig: { NetworkMode: 'none' } });
    await engine.containers.start(Id);
    for (let i = 0; i < 50 && !(await execText(t.engine, Id, ['ls', '/dst']).then(() => true, () => false)); i++) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 200));
    const marker = uniq('cp-marker');
    await engine.containers.putArchive(Id, '/escape/tmp', await tarOf([{ name: `${marker}.txt`, body: 'copied in\n' }]));
    expect(existsSync(`/tmp/${marker}.txt`)).toBe(false);
    expect(await execText(t.engine, Id, ['cat', `/tmp/${marker}.txt`])).toBe('copied in\n');
    await expect(engine.containers.putArchive(Id, '/dst', await tarOf([{ name: '../../../../../tmp/' + marker + '-2' }]))).rejects.toThrow();
    expect(existsSync(`/tmp/${marker}-2`)).toBe(false);
    await expect(engine.containers.putArchive(Id, '/etc/passwd', await tarOf([{ name: 'x' }]))).rejects.toThrow(/not a directory/);
    const st = await engine.containers.archiveStat(Id, '/bin/sh');
    expect(st.linkTarget).toBe('/bin/busybox');
    expect(st.mode & 2 ** 27).toBeTruthy();
    const dir = await engine.containers.archiveStat(Id, '/etc');
    expect(dir.mode >= 2 ** 31).toBe(true);
    const { stat, tar: out } = await engine.containers.getArchive(Id, '/etc/passwd');
    expect(stat.name).toBe('passwd');
    expect(await tarNames(out)).toEqual(['passwd']);
    await expect(engine.containers.archiveStat(Id, '/nope')).rejects.toMatchObject({ code: 'NotFound' });
    await engine.containers.remove(Id, { force: true });
  });

  it('copies out of a stopped container', async () => {
    const { engine } = t;
    const { Id } = await engine.containers.create({ Image: 'busybox', Cmd: ['sh', '-c', 'mkdir /out && echo a > /out/a && echo b > /out/b'], HostConfig: { NetworkMode: 'none' } });
    const w = engine.containers.wait(Id, 'next-exit');
    await engine.containers.start(Id);
    await w;
    const { tar: out } = await engine.containers.getArchive(Id, '/out');
    expect((await tarNames(out)).sort()).toEqual(['out/', 'out/a', 'out/b']);
    const { tar: contents } = await engine.containers.getArchive(Id, '/out/.');
    expect((await tarNames(contents)).sort()).toEqual(['./', './a', './b']);
    await engine.containers.remove(Id);
  });

  it('lists filesystem changes (docker diff)', async () => {
    const { engine } = t;
    const { Id } = await engine.containers.create({ Image: 'busybox', Cmd: ['sh', '-c', 'echo x >> /etc/passwd; echo new > /newfile; rm /bin/vi'], HostConfig: { NetworkMode: 'none' } });
    const w = engine.containers.wait(Id, 'next-exit');
    await engine.containers.start(Id);
    await w;
    const changes = await engine.containers.changes(Id);
    expect(changes).toEqual(expect.arrayContaining([
      { Path: '/etc', Kind: 0 },
      { Path: '/etc/passwd', Kind: 0 },
      { Path: '/newfile', Kind: 1 },
      { Path: '/bin', Kind: 0 },
      { Path: '/bin/vi', Kind: 2 },
    ]));
    await engine.containers.remove(Id);
  });

  it('leaves the engine-written hostname/hosts/resolv.conf (and /etc for them alone) out of diff, as Docker', async () => {
    const { engine } = t;
    const diffOf = async (script: string): Promise<unknown> => {
      const { Id } = await engine.containers.create({ Image: 'busybox', Cmd: ['sh', '-c', script] });
      const w = engine.containers.wait(Id, 'next-exit');
      await engine.containers.start(Id);
      await w;
      const changes = await engine.containers.changes(Id);
      await engine.containers.remove(Id);
      return changes;
    };
    // dockerd 20.10's answers for the same commands
    expect(await diffOf('touch /test')).toEqual([{ Path: '/test', Kind: 1 }]);
    expect(await diffOf('echo x >> /etc/hosts')).toEqual([]);
    expect(await diffOf('touch /etc/newfile')).toEqual([
      { Path: '/etc', Kind: 0 },
      { Path: '/etc/newfile', Kind: 1 },
    ]);
  });
});
