import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gzipSync } from 'node:zlib';
import { access, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import tar, { type Header } from 'tar-stream';
import { startTestDaemon, type TestDaemon } from './support/daemon.js';
import { docker, dockerOk } from './support/docker-cli.js';
import { request } from './support/http.js';

// Plugins and docker load over a real berthd, answered as a reference dockerd 20.10 answers
// the same requests (docker-py's api_plugin_test and models_images_test send them).

type Entry = { name: string; body?: string | Buffer; type?: Header['type']; mode?: number; linkname?: string };

async function tarOf(entries: Entry[]): Promise<Buffer> {
  const pack = tar.pack();
  for (const e of entries) {
    const header: Parameters<typeof pack.entry>[0] = { name: e.name, type: e.type ?? 'file', mode: e.mode ?? (e.type === 'directory' ? 0o755 : 0o644), ...(e.linkname ? { linkname: e.linkname } : {}) };
    if (e.type === 'file' || e.type === undefined) pack.entry(header, e.body ?? '');
    else pack.entry(header);
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

// docker-py's dummy plugin: its entrypoint /dummy is a directory.
const DUMMY_CONFIG = JSON.stringify({
  description: 'Dummy test plugin',
  documentation: 'https://example.invalid/doc',
  entrypoint: ['/dummy'],
  network: { type: 'host' },
  interface: { types: ['docker.volumedriver/1.0'], socket: 'dummy.sock' },
  env: [{ name: 'DEBUG', settable: ['value'], value: '0' }],
});
const dummyTar = (): Promise<Buffer> =>
  tarOf([{ name: 'config.json', body: DUMMY_CONFIG }, { name: 'rootfs/', type: 'directory' }, { name: 'rootfs/dummy/', type: 'directory' }, { name: 'rootfs/dummy/file.txt', body: '' }]);

describe('plugins and image load against berthd', () => {
  let t: TestDaemon;
  const suffix = Math.random().toString(16).slice(2, 8);
  const api = (method: string, path: string, body?: Buffer | string, headers?: Record<string, string>) =>
    request(t.socketPath, method, `/v1.41${path}`, { ...(body !== undefined ? { body } : {}), ...(headers ? { headers } : {}) });

  beforeAll(async () => {
    t = await startTestDaemon();
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('creates a plugin from a tar, shows it as Docker does, and removes it', async () => {
    const name = `berthtest/dummy-${suffix}`;
    const created = await api('POST', `/plugins/create?name=${encodeURIComponent(name)}`, await dummyTar());
    expect(created.status).toBe(204);
    const again = await api('POST', `/plugins/create?name=${encodeURIComponent(name)}`, await dummyTar());
    expect(again.status).toBe(409);
    expect(JSON.parse(again.body).message).toBe(`plugin ${name}:latest already exists`);

    const inspected = await api('GET', `/plugins/${name}/json`);
    expect(inspected.status).toBe(200);
    const p = JSON.parse(inspected.body);
    expect(Object.keys(p)).toEqual(['Config', 'Enabled', 'Id', 'Name', 'PluginReference', 'Settings']);
    expect(p).toMatchObject({ Enabled: false, Name: `${name}:latest`, PluginReference: `${name}:latest`, Settings: { Args: [], Devices: [], Env: ['DEBUG=0'], Mounts: [] } });
    expect(p.Id).toMatch(/^[0-9a-f]{64}$/);
    expect(p.Config).toMatchObject({
      Args: { Description: '', Name: '', Settable: null, Value: null },
      Description: 'Dummy test plugin',
      Entrypoint: ['/dummy'],
      Env: [{ Description: '', Name: 'DEBUG', Settable: ['value'], Value: '0' }],
      Interface: { Socket: 'dummy.sock', Types: ['docker.volumedriver/1.0'] },
      IpcHost: false,
      Linux: { AllowAllDevices: false, Capabilities: null, Devices: null },
      Mounts: null,
      Network: { Type: 'host' },
      PidHost: false,
      PropagatedMount: '',
      User: {},
      WorkDir: '',
      rootfs: { type: 'layers' },
    });
    expect(p.Config.rootfs.diff_ids[0]).toMatch(/^sha256:[0-9a-f]{64}$/);
    // Its tree is under the daemon's root, in the plugin's own directory.
    await access(join(t.dir, 'root', 'plugins', p.Id, 'rootfs', 'dummy', 'file.txt'));
    // By ID prefix too.
    expect(JSON.parse((await api('GET', `/plugins/${p.Id.slice(0, 12)}/json`)).body).Name).toBe(`${name}:latest`);

    // Lists, with Docker's filters.
    const list = async (filters: object) => JSON.parse((await api('GET', `/plugins?filters=${encodeURIComponent(JSON.stringify(filters))}`)).body);
    expect((await list({})).map((x: { Name: string }) => x.Name)).toContain(`${name}:latest`);
    expect(await list({ enabled: { true: true } })).toEqual([]);
    expect(await list({ capability: { volumedriver: true } })).toHaveLength(1);
    expect(await list({ capability: { authz: true } })).toEqual([]);
    const bad = await api('GET', `/plugins?filters=${encodeURIComponent('{"foo":{"x":true}}')}`);
    expect([bad.status, JSON.parse(bad.body).message]).toEqual([400, "Invalid filter 'foo'"]);

    // Enabling runs the entrypoint: a directory cannot run (Docker: 500 from the runtime).
    const enabled = await api('POST', `/plugins/${name}/enable?timeout=0`);
    expect(enabled.status).toBe(500);
    expect(JSON.parse(enabled.body).message).toContain('exec: "/dummy": permission denied');
    const disabled = await api('POST', `/plugins/${name}/disable`);
    expect([disabled.status, JSON.parse(disabled.body).message]).toEqual([409, `plugin is already disabled: plugin ${name}:latest found but disabled`]);

    // set: settable env only, Docker's messages.
    expect((await api('POST', `/plugins/${name}/set`, '["DEBUG=1"]', { 'Content-Type': 'application/json' })).status).toBe(204);
    expect(JSON.parse((await api('GET', `/plugins/${name}/json`)).body).Settings.Env).toEqual(['DEBUG=1']);
    const unknown = await api('POST', `/plugins/${name}/set`, '["NOPE=1"]', { 'Content-Type': 'application/json' });
    expect([unknown.status, JSON.parse(unknown.body).message]).toEqual([500, 'setting "NOPE" not found in the plugin configuration']);

    expect(JSON.parse((await api('GET', `/plugins/privileges?remote=${encodeURIComponent(name)}`)).body)).toEqual([
      { Name: 'network', Description: 'permissions to access a network', Value: ['host'] },
    ]);

    const removed = await api('DELETE', `/plugins/${name}?force=1`);
    expect([removed.status, removed.body]).toEqual([200, '']);
    const gone = await api('GET', `/plugins/${name}/json`);
    expect([gone.status, JSON.parse(gone.body).message]).toEqual([404, `plugin "${name}" not found`]);
    expect(await readdir(join(t.dir, 'root', 'plugins'))).toEqual([]);
  });

  it('refuses archives Docker refuses, and one whose rootfs would leave its directory', async () => {
    const name = `berthtest/bad-${suffix}`;
    const noRootfs = await api('POST', `/plugins/create?name=${name}`, await tarOf([{ name: 'x.txt', body: 'x' }]));
    expect([noRootfs.status, JSON.parse(noRootfs.body).message]).toEqual([500, 'no rootfs found: EOF']);
    const badName = await api('POST', `/plugins/create?name=${encodeURIComponent('bad name')}`, await dummyTar());
    expect([badName.status, JSON.parse(badName.body).message]).toEqual([500, 'failed to parse reference bad name: invalid reference format']);
    const hostile = await tarOf([
      { name: 'config.json', body: DUMMY_CONFIG },
      { name: 'rootfs/escape', type: 'symlink', linkname: '/tmp' },
      { name: `rootfs/escape/berth-plugin-escape-${suffix}`, body: 'owned' },
    ]);
    const refused = await api('POST', `/plugins/create?name=${name}`, hostile);
    expect(refused.status).toBe(400);
    await expect(access(`/tmp/berth-plugin-escape-${suffix}`)).rejects.toThrow();
    expect((await api('GET', `/plugins/${name}/json`)).status).toBe(404);
    expect(await readdir(join(t.dir, 'root', 'plugins'))).toEqual([]);
  });

  it('accepts a gzip archive, and the docker CLI drives the plugin commands', async () => {
    const gzName = `berthtest/gz-${suffix}`;
    expect((await api('POST', `/plugins/create?name=${gzName}`, gzipSync(await dummyTar()))).status).toBe(204);
    const cli = `berthtest/cli-${suffix}`;
    const dir = join(t.dir, 'plugin-src');
    const { mkdir, writeFile } = await import('node:fs/promises');
    await mkdir(join(dir, 'rootfs', 'bin'), { recursive: true });
    await writeFile(join(dir, 'config.json'), DUMMY_CONFIG.replace('"/dummy"', '"/bin/run"'));
    await writeFile(join(dir, 'rootfs', 'bin', 'run'), '#!/bin/sh\n', { mode: 0o755 });
    expect((await dockerOk(t.dockerEnv, ['plugin', 'create', cli, dir])).trim()).toBe(cli);
    const ls = (await dockerOk(t.dockerEnv, ['plugin', 'ls', '--format', '{{.Name}} {{.Enabled}}'])).trim();
    expect(ls.split('\n').sort()).toEqual([`${cli}:latest false`, `${gzName}:latest false`]);
    expect((await dockerOk(t.dockerEnv, ['plugin', 'inspect', cli, '--format', '{{.Config.Entrypoint}}'])).trim()).toBe('[/bin/run]');
    // An entrypoint that could run: Berth has no plugin runtime and says so; it stays disabled.
    const enable = await docker(t.dockerEnv, ['plugin', 'enable', cli]);
    expect(enable.code).toBe(1);
    expect(enable.stderr).toContain('Berth does not run managed plugins');
    expect((await dockerOk(t.dockerEnv, ['plugin', 'inspect', cli, '--format', '{{.Enabled}}'])).trim()).toBe('false');
    expect((await dockerOk(t.dockerEnv, ['plugin', 'rm', cli, gzName])).trim()).toBe(`${cli}\n${gzName}`);
  });

  it('load: 200 and an error line for a bad archive; quiet by default; one line per loaded tag', async () => {
    const bad = await api('POST', '/images/load', 'abc', { 'Content-Type': 'application/x-tar' });
    expect(bad.status).toBe(200);
    const line = JSON.parse(bad.body.trim());
    expect(line.error).toMatch(/tar/);
    expect(line.errorDetail.message).toBe(line.error);

    // An image archive made here: one layer, tagged.
    const layer = await tarOf([{ name: 'hello.txt', body: 'hello' }]);
    const { createHash } = await import('node:crypto');
    const diffId = `sha256:${createHash('sha256').update(layer).digest('hex')}`;
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [diffId] } }));
    const configHex = createHash('sha256').update(config).digest('hex');
    const ref = `berthtest/loaded-${suffix}:1`;
    const archive = await tarOf([
      { name: `${configHex}.json`, body: config.toString() },
      { name: 'layer/layer.tar', body: layer },
      { name: 'manifest.json', body: JSON.stringify([{ Config: `${configHex}.json`, RepoTags: [ref], Layers: ['layer/layer.tar'] }]) },
    ]);
    const loud = await api('POST', '/images/load?quiet=0', archive, { 'Content-Type': 'application/x-tar' });
    const messages = loud.body.trim().split('\n').map((l) => JSON.parse(l));
    expect(messages.filter((m) => m.status === 'Loading layer').at(-1)).toMatchObject({ id: diffId.slice(7, 19), progressDetail: { current: layer.length, total: layer.length } });
    expect(messages.filter((m) => m.stream)).toEqual([{ stream: `Loaded image: ${ref}\n` }]);
    // No quiet parameter: Docker takes it as quiet, and the image is there already.
    const again = await api('POST', '/images/load', archive, { 'Content-Type': 'application/x-tar' });
    expect(again.body).toBe(`{"stream":"Loaded image: ${ref}\\n"}\n`);
    const inspected = JSON.parse((await api('GET', `/images/${ref}/json`)).body);
    expect(inspected.Id).toBe(`sha256:${configHex}`);
    // Docker's size of a layer is its entries' total (here 'hello'), not the tar's.
    expect(inspected.Size).toBe(5);
    expect(JSON.parse((await api('GET', `/images/${ref}/history`)).body)[0].Size).toBe(5);
    // Container and ContainerConfig are there for API 1.41 and gone from 1.45 on, as in Docker.
    expect(Object.keys(inspected)).toContain('ContainerConfig');
    const current = JSON.parse((await request(t.socketPath, 'GET', `/v1.50/images/${ref}/json`)).body);
    expect(Object.keys(current)).not.toContain('ContainerConfig');
    expect(Object.keys(current)).not.toContain('Container');
    await api('DELETE', `/images/${ref}`);
  });
});
