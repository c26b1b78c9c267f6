import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWindowsImage, pushWindowsImage, startRegistry, type RunningRegistry, type WindowsImage } from '@berth/fixtures';
import { HcsSimulator } from '@berth/hcs/simulator';
import type { FakeProgram } from '@berth/runtime/fake';
import { driverSetFor } from '../src/platform.js';
import { startTestDaemon, type TestDaemon } from './support/daemon.js';
import { docker, dockerOk } from './support/docker-cli.js';

// berthd composed as on a Windows Server 2022 host (DaemonOptions.platform: 'win32'), over
// the HCS simulator instead of the koffi binding: the composition root's selection, the
// Windows drivers, the windowsfilter layer store and the engine are the code a Windows host
// runs; only what is below the HcsApi (the real HCS) is simulated. A Linux berthd's
// composition is what every other test runs.

/** `cmd /S /C echo ...` of a Windows image, as the simulated guest runs it. */
const cmd: (args: string[]) => FakeProgram | undefined = (args) => {
  if (!/(^|\\)cmd(\.exe)?$/i.test(args[0] ?? '')) return undefined;
  return async (p) => {
    const c = args.findIndex((a) => /^\/c$/i.test(a));
    const line = args.slice(c + 1).join(' ');
    const m = /^echo (.*)$/i.exec(line);
    if (!m) {
      p.stderr(`'${line}' is not recognized as an internal or external command\r\n`);
      return 1;
    }
    p.stdout(`${m[1]}\r\n`);
    return 0;
  };
};

describe('berthd composed for a Windows host (over the HCS simulator)', () => {
  let t: TestDaemon;
  let reg: RunningRegistry;
  let sim: HcsSimulator;
  let img: WindowsImage;
  const suffix = Math.random().toString(16).slice(2, 8);
  let ref: string;

  beforeAll(async () => {
    img = await buildWindowsImage();
    reg = await startRegistry();
    ref = `${reg.host}/berth/win-${suffix}:ltsc2022`;
    await pushWindowsImage(reg.url, `berth/win-${suffix}`, 'ltsc2022', img);
    sim = new HcsSimulator({ onDisk: true, programs: cmd });
    t = await startTestDaemon({ platform: { os: 'win32', productName: 'Windows Server 2022 Datacenter', hcs: sim } });
  }, 60_000);
  afterAll(async () => {
    await t?.stop();
    sim?.storage.removeHostDirs();
    await reg?.stop();
  });

  it('wires the Windows drivers: docker info says windows, process isolation, both runtimes', async () => {
    const info = JSON.parse(await dockerOk(t.dockerEnv, ['info', '--format', '{{json .}}'])) as Record<string, unknown>;
    expect(info['OSType']).toBe('windows');
    expect(info['Isolation']).toBe('process');
    expect(info['Driver']).toBe('windowsfilter');
    expect(Object.keys(info['Runtimes'] as object).sort()).toEqual(['hyperv', 'process']);
  });

  it('pulls a Windows image into HCS layer folders, base first, each imported over its parents', async () => {
    await dockerOk(t.dockerEnv, ['pull', ref], { timeoutMs: 120_000 });
    expect((await dockerOk(t.dockerEnv, ['image', 'inspect', '-f', '{{.Os}} {{.OsVersion}}', ref])).trim()).toBe(`windows ${img.osVersion}`);
    const imports = sim.received.filter((r) => r.call === 'HcsImportLayer');
    expect(imports).toHaveLength(2);
    const [base, top] = imports.map((r) => r.document as { Layers: { Path: string }[] });
    expect(base!.Layers).toEqual([]);
    expect(top!.Layers).toHaveLength(1);
    const baseLayer = sim.storage.layers.get(top!.Layers[0]!.Path.toLowerCase());
    expect(baseLayer).toMatchObject({ os: 'windows', osVersion: img.osVersion, utilityVm: true, parents: [] });
  });

  it('without an HcsApi given, the Windows composition opens the koffi binding (refused off Windows, naming the simulator)', async () => {
    const drivers = driverSetFor({ os: 'win32' });
    await expect(drivers({ root: t.dir, runRoot: t.dir, config: {}, defaultNetwork: { name: 'bridge', bridge: 'x', subnet: '10.0.0.0/24', gateway: '10.0.0.1' } })).rejects.toMatchObject({
      code: 'Unsupported',
      message: expect.stringMatching(/only on Windows .*HcsSimulator/),
    });
  });

  for (const isolation of ['process', 'hyperv'] as const) {
    it(`create, start, logs, rm of a ${isolation}-isolated container through the Engine API`, async () => {
      const name = `win-${isolation}-${suffix}`;
      const id = (await dockerOk(t.dockerEnv, ['create', '--name', name, '--isolation', isolation, ref, 'cmd', '/S', '/C', `echo hello from ${isolation}`])).trim();
      expect((await dockerOk(t.dockerEnv, ['inspect', '-f', '{{.HostConfig.Isolation}} {{.Platform}}', name])).trim()).toBe(`${isolation} windows`);
      await dockerOk(t.dockerEnv, ['start', name]);
      expect((await dockerOk(t.dockerEnv, ['wait', name], { timeoutMs: 60_000 })).trim()).toBe('0');
      const logs = await docker(t.dockerEnv, ['logs', name]);
      expect(logs.stdout).toBe(`hello from ${isolation}\r\n`);
      const systems = sim.received.filter((r) => r.call === 'HcsCreateComputeSystem').map((r) => r.document as { Container?: unknown; VirtualMachine?: unknown; HostedSystem?: unknown });
      expect(systems.length).toBeGreaterThan(0);
      if (isolation === 'process') expect(systems.at(-1)!.Container).toBeDefined();
      else expect(systems.some((s) => s.VirtualMachine !== undefined)).toBe(true);
      await dockerOk(t.dockerEnv, ['rm', name]);
      expect((await docker(t.dockerEnv, ['inspect', id])).code).toBe(1);
    }, 120_000);
  }
});
