import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm, stat, writeFile, mkdir, readFile } from 'node:fs/promises';
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EngineClient } from '@berth/engine-api';
import { ConflictError, UnsupportedError } from '@berth/image-format';
import { startDaemon } from '../src/index.js';
import { scriptedEngine } from './support/scripted-engine.js';

// Listening, pid file and shutdown rules, with a scripted engine (the HTTP layer alone).
describe('berthd lifecycle', () => {
  const dirs: string[] = [];
  afterEach(async () => {
    for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
  });
  const tempDir = async (): Promise<string> => {
    const d = await mkdtemp(join(tmpdir(), 'berthd-life-'));
    dirs.push(d);
    await writeFile(join(d, 'daemon.json'), '{}');
    return d;
  };

  it('listens on a unix socket and loopback tcp at once, and cleans both up on close', async () => {
    const dir = await tempDir();
    const s = scriptedEngine();
    const sock = join(dir, 'run', 'api.sock');
    const d = await startDaemon({ root: join(dir, 'root'), runRoot: join(dir, 'run'), configFile: join(dir, 'daemon.json'), hosts: [`unix://${sock}`, 'tcp://127.0.0.1:0'], engine: s.engine });
    expect(d.addresses[0]).toBe(`unix://${sock}`);
    expect(d.addresses[1]).toMatch(/^tcp:\/\/127\.0\.0\.1:\d+$/);
    const viaTcp = new EngineClient({ host: d.addresses[1] });
    expect((await viaTcp.ping()).apiVersion).toBe('1.50');
    const viaUnix = new EngineClient({ socketPath: sock });
    expect((await viaUnix.version()).ApiVersion).toBe('1.50');
    expect((await readFile(d.pidFile, 'utf8')).trim()).toBe(String(process.pid));
    viaTcp.close();
    viaUnix.close();
    await d.close();
    await expect(stat(sock)).rejects.toThrow(/ENOENT/);
    await expect(stat(d.pidFile)).rejects.toThrow(/ENOENT/);
    expect(s.closed()).toBe(true);
  });

  it('refuses tcp on anything but loopback', async () => {
    const dir = await tempDir();
    await expect(
      startDaemon({ root: join(dir, 'root'), runRoot: join(dir, 'run'), configFile: join(dir, 'daemon.json'), hosts: ['tcp://0.0.0.0:0'], engine: scriptedEngine().engine }),
    ).rejects.toBeInstanceOf(UnsupportedError);
    await expect(stat(join(dir, 'run', 'berthd.pid'))).rejects.toThrow(/ENOENT/);
  });

  it('replaces a stale socket and refuses to start while the pid file names a live process', async () => {
    const dir = await tempDir();
    const run = join(dir, 'run');
    await mkdir(run, { recursive: true });
    const sock = join(run, 'berthd.sock');
    // a stale socket: bound by a process that is gone (python does not unlink on exit)
    await promisify(execFile)('python3', ['-c', 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', sock]);
    expect((await stat(sock)).isSocket()).toBe(true);
    const d = await startDaemon({ root: join(dir, 'root'), runRoot: run, configFile: join(dir, 'daemon.json'), engine: scriptedEngine().engine });
    expect(d.socketPath).toBe(sock);
    await d.close();
    // a pid file naming another live process (one this test started)
    const other = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      await writeFile(join(run, 'berthd.pid'), `${other.pid}\n`);
      const err = await startDaemon({ root: join(dir, 'root2'), runRoot: run, configFile: join(dir, 'daemon.json'), engine: scriptedEngine().engine }).then(
        async (unexpected) => {
          await unexpected.close();
          return undefined;
        },
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ConflictError);
    } finally {
      other.kill('SIGKILL');
    }
    // a pid file left by a dead process does not block
    await writeFile(join(run, 'berthd.pid'), '999999\n');
    const again = await startDaemon({ root: join(dir, 'root'), runRoot: run, configFile: join(dir, 'daemon.json'), engine: scriptedEngine().engine });
    await again.close();
  });

  it('reads daemon.json and rejects a broken one', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'daemon.json'), JSON.stringify({ 'insecure-registries': ['registry.test:5000', '10.0.0.0/8'], 'log-level': 'error' }));
    const d = await startDaemon({ root: join(dir, 'root'), runRoot: join(dir, 'run'), configFile: join(dir, 'daemon.json'), engine: scriptedEngine().engine });
    const c = new EngineClient({ socketPath: d.socketPath! });
    const info = await c.info();
    expect(info.RegistryConfig.InsecureRegistryCIDRs).toEqual(['127.0.0.0/8', '10.0.0.0/8']);
    expect(info.RegistryConfig.IndexConfigs['registry.test:5000']).toMatchObject({ Secure: false });
    c.close();
    await d.close();
    await writeFile(join(dir, 'daemon.json'), '{ nope');
    await expect(startDaemon({ root: join(dir, 'root'), runRoot: join(dir, 'run'), configFile: join(dir, 'daemon.json'), engine: scriptedEngine().engine })).rejects.toThrow(/unable to parse config file/);
  });
});
