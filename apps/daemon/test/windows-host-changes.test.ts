import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWindowsImage, pushWindowsImage, readWindowsTar, startRegistry, type RunningRegistry } from '@berth/fixtures';
import { HcsSimulator, type GuestProcessApi } from '@berth/hcs/simulator';
import type { FakeProgram } from '@berth/runtime/fake';
import { startTestDaemon, type TestDaemon } from './support/daemon.js';
import { docker, dockerOk } from './support/docker-cli.js';

// docker diff and commit of Windows containers on a berthd composed for Windows (over the
// HCS simulator with its layers on disk): the container's scratch is read with
// HcsExportLayer into a Windows layer, listed as dockerd on Windows lists it (C for every
// file of the export, D for each tombstone, `Files/` paths) and committed through the same
// layer path a pull takes, so a container of the new image sees the change.

const programs = (args: string[]): FakeProgram | undefined => {
  const files = (p: Parameters<FakeProgram>[0]) => (p as GuestProcessApi).files!;
  if (args[0] === 'writer')
    return async (p) => {
      files(p).write('C:\\app\\new.txt', 'made in the container\r\n');
      files(p).write('C:\\app\\hello.txt', 'hello, changed\r\n');
      files(p).remove('C:\\Windows\\System32\\cmd.exe');
      return 0;
    };
  if (args[0] === 'reader')
    return async (p) => {
      for (const f of ['C:\\app\\new.txt', 'C:\\app\\hello.txt', 'C:\\Windows\\System32\\cmd.exe']) p.stdout(`${f}: ${p.readFile(f)?.toString().trim() ?? '(none)'}\r\n`);
      return 0;
    };
  if (args[0] === 'idle')
    return async (p) => {
      for (;;) await p.sleep(0.05);
    };
  return undefined;
};

describe('docker diff and commit of a Windows container (over the HCS simulator)', () => {
  let t: TestDaemon;
  let reg: RunningRegistry;
  let sim: HcsSimulator;
  let ref: string;
  const suffix = Math.random().toString(16).slice(2, 8);

  beforeAll(async () => {
    const img = await buildWindowsImage();
    reg = await startRegistry();
    ref = `${reg.host}/berth/winchanges-${suffix}:ltsc2022`;
    await pushWindowsImage(reg.url, `berth/winchanges-${suffix}`, 'ltsc2022', img);
    sim = new HcsSimulator({ onDisk: true, programs });
    t = await startTestDaemon({ platform: { os: 'win32', productName: 'Windows Server 2022 Datacenter', hcs: sim } });
    await dockerOk(t.dockerEnv, ['pull', ref], { timeoutMs: 120_000 });
  }, 120_000);
  afterAll(async () => {
    await docker(t.dockerEnv, ['rmi', '-f', `berth-committed-${suffix}`]).catch(() => undefined);
    await t?.stop();
    await sim?.close();
    await reg?.stop();
  });

  it('the image\'s files as the container sees them', async () => {
    const out = await dockerOk(t.dockerEnv, ['run', '--rm', ref, 'reader']);
    expect(out).toBe('C:\\app\\new.txt: (none)\r\nC:\\app\\hello.txt: hello from a Windows layer\r\nC:\\Windows\\System32\\cmd.exe: MZ\u0090\u0000not really cmd.exe\r\n');
  }, 60_000);

  it('docker diff lists the scratch as dockerd on Windows does; commit makes a layer a new container sees', async () => {
    const name = `winwriter-${suffix}`;
    await dockerOk(t.dockerEnv, ['run', '--name', name, ref, 'writer']);
    const diff = await dockerOk(t.dockerEnv, ['diff', name]);
    expect(diff.trim().split('\n')).toEqual(['C Files', 'D Files/Windows/System32/cmd.exe', 'C Files/app', 'C Files/app/hello.txt', 'C Files/app/new.txt']);

    const image = `berth-committed-${suffix}`;
    const id = (await dockerOk(t.dockerEnv, ['commit', name, image])).trim();
    expect(id).toMatch(/^sha256:[0-9a-f]{64}$/);
    const layers = JSON.parse(await dockerOk(t.dockerEnv, ['image', 'inspect', '-f', '{{json .RootFS.Layers}}', image])) as string[];
    expect(layers).toHaveLength(3);
    expect((await dockerOk(t.dockerEnv, ['image', 'inspect', '-f', '{{.Os}}', image])).trim()).toBe('windows');

    // the committed layer as docker save carries it: a Windows layer tar, whiteout for the delete
    const saved = await readSavedLayer(t.dockerEnv, image, layers[2]!);
    expect(saved.map((e) => e.name)).toEqual(['Files', 'Files/app', 'Files/app/hello.txt', 'Files/app/new.txt', 'Files/Windows/System32/.wh.cmd.exe']);
    expect(saved.find((e) => e.name === 'Files/app/new.txt')!.pax['MSWINDOWS.fileattr']).toBe('32');

    const out = await dockerOk(t.dockerEnv, ['run', '--rm', image, 'reader']);
    expect(out).toBe('C:\\app\\new.txt: made in the container\r\nC:\\app\\hello.txt: hello, changed\r\nC:\\Windows\\System32\\cmd.exe: (none)\r\n');

    // docker export: the container's C:\ (Files/ stripped; no hives, no utility VM, no whiteouts or streams)
    const exported = await tarEntries(t.dockerEnv, ['export', name]);
    expect([...exported.keys()]).toEqual(['Documents and Settings', 'Users', 'Windows', 'Windows/System32', 'app', 'app/hello.txt', 'app/new.txt']);
    expect(exported.get('app/hello.txt')!.toString()).toBe('hello, changed\r\n');
    expect(exported.get('app/new.txt')!.toString()).toBe('made in the container\r\n');
    await dockerOk(t.dockerEnv, ['rm', name]);
  }, 120_000);

  it('diff and commit (and export) of a running Windows container are refused, with dockerd\'s words where it has them', async () => {
    const name = `winidle-${suffix}`;
    await dockerOk(t.dockerEnv, ['run', '-d', '--name', name, ref, 'idle']);
    const diff = await docker(t.dockerEnv, ['diff', name]);
    expect(diff.code).toBe(1);
    expect(diff.stderr).toContain('Windows does not support diff of a running container');
    const commit = await docker(t.dockerEnv, ['commit', name, `berth-never-${suffix}`]);
    expect(commit.code).toBe(1);
    expect(commit.stderr).toContain('windows does not support commit of a running container');
    // dockerd refuses every export of a Windows container; Berth exports stopped ones, for the same reason not running ones
    const exp = await docker(t.dockerEnv, ['export', name]);
    expect(exp.code).toBe(1);
    expect(exp.stderr).toContain('Windows does not support export of a running container');
    await dockerOk(t.dockerEnv, ['rm', '-f', name]);
  }, 60_000);
});

/** The entries of the tar a docker command writes to stdout, by name (directories and links with no body). */
async function tarEntries(env: NodeJS.ProcessEnv, args: string[]): Promise<Map<string, Buffer>> {
  const { spawn } = await import('node:child_process');
  const tarStream = (await import('tar-stream')).default;
  const child = spawn('docker', args, { env, stdio: ['ignore', 'pipe', 'inherit'] });
  const ex = tarStream.extract();
  child.stdout.pipe(ex);
  const out = new Map<string, Buffer>();
  for await (const e of ex) {
    const chunks: Buffer[] = [];
    for await (const c of e) chunks.push(c as Buffer);
    out.set(e.header.name, Buffer.concat(chunks));
  }
  return out;
}

/** One layer of `docker save`'s tar, by its diffID, entry by entry. */
async function readSavedLayer(env: NodeJS.ProcessEnv, image: string, diffId: string): Promise<Awaited<ReturnType<typeof readWindowsTar>>> {
  const { execFile } = await import('node:child_process');
  const tarStream = (await import('tar-stream')).default;
  const archive = await new Promise<Buffer>((resolve, reject) =>
    execFile('docker', ['save', image], { env, encoding: 'buffer', maxBuffer: 64 << 20 }, (err, stdout) => (err ? reject(err) : resolve(stdout))),
  );
  const files = new Map<string, Buffer>();
  const ex = tarStream.extract();
  const done = (async () => {
    for await (const e of ex) {
      const chunks: Buffer[] = [];
      for await (const c of e) chunks.push(c as Buffer);
      files.set(e.header.name, Buffer.concat(chunks));
    }
  })();
  ex.end(archive);
  await done;
  const { createHash } = await import('node:crypto');
  const { gunzipSync } = await import('node:zlib');
  for (const [, body] of files) {
    const plain = body[0] === 0x1f && body[1] === 0x8b ? gunzipSync(body) : body;
    if (`sha256:${createHash('sha256').update(plain).digest('hex')}` === diffId) return readWindowsTar(plain);
  }
  throw new Error(`no layer ${diffId} in docker save of ${image}`);
}
