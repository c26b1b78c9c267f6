/*
 * The engine's registry of runtime drivers, over @berth/runtime's fakes: it passes the
 * runtime conformance suite itself, picks a driver by image OS and isolation as dockerd
 * and a Windows host would, and routes every call to the driver that owns the container.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { ContainerSpec } from '@berth/runtime';
import { FakeDriver, suitePrograms, type FakeDriverOptions } from '@berth/runtime/fake';
import { runConformanceSuite } from '@berth/runtime/testsuite';
import { RuntimeRegistry } from '../src/drivers/runtime-registry.js';
import type { IsolationHost } from '../src/drivers/isolation.js';

const linuxHost: IsolationHost = { platform: 'linux', productName: '#1 SMP Debian 6.1.0' };
const server: IsolationHost = { platform: 'win32', productName: 'Windows Server 2022 Datacenter' };
const client: IsolationHost = { platform: 'win32', productName: 'Windows 11 Pro' };

// a stand-in for /bin/busybox: the suite wants a big binary
const busybox = randomBytes(300_000);
const fake = (name: string, platforms: FakeDriverOptions['platforms']) =>
  new FakeDriver({ name, programs: suitePrograms, files: { '/bin/busybox': busybox }, ...(platforms ? { platforms } : {}) });

runConformanceSuite(
  'registry of a linux and a windows fake',
  () => new RuntimeRegistry({ linux: fake('linux/fake', undefined), windows: fake('windows/fake', [{ os: 'windows', isolation: 'process' }]) }, { host: linuxHost }),
  { rootfs: async () => ({ path: '/nonexistent-fake-rootfs' }), baseSpec: { network: { mode: 'none' } } },
);

const windowsDrivers = () => ({
  process: fake('windows/process', [{ os: 'windows', isolation: 'process' }]),
  hyperv: fake('windows/hyperv', [{ os: 'windows', isolation: 'hyperv' }, { os: 'linux', isolation: 'hyperv' }]),
});

function spec(id: string, extra: Partial<ContainerSpec> = {}): ContainerSpec {
  return { id, rootfs: { path: '/nonexistent' }, process: { args: ['echo', id] }, network: { mode: 'none' }, ...extra };
}

describe('choosing a driver', () => {
  it('on Linux: only default isolation, only Linux images, stored as given', () => {
    const linux = fake('linux/fake', undefined);
    const registry = new RuntimeRegistry({ linux }, { host: linuxHost });
    expect(registry.choose(undefined, 'linux')).toEqual({ isolation: '', driver: linux });
    expect(registry.choose('Default', undefined)).toEqual({ isolation: 'Default', driver: linux });
    expect(() => registry.choose('hyperv', 'linux')).toThrow(`Invalid isolation: "hyperv" - linux only supports 'default'`);
    expect(() => registry.choose(undefined, 'windows')).toThrow(/image operating system "windows" cannot be used on this platform/);
    expect(registry.defaultIsolation).toBe('');
  });

  it('on Windows Server: default means process, stored filled in; hyperv on request; Linux images in a utility VM', () => {
    const d = windowsDrivers();
    const registry = new RuntimeRegistry(d, { host: server });
    expect(registry.choose(undefined, 'windows')).toEqual({ isolation: 'process', driver: d.process });
    expect(registry.choose('Default', 'windows')).toEqual({ isolation: 'process', driver: d.process });
    expect(registry.choose('HyperV', 'windows')).toEqual({ isolation: 'HyperV', driver: d.hyperv });
    expect(registry.choose(undefined, 'linux')).toEqual({ isolation: 'hyperv', driver: d.hyperv });
    expect(() => registry.choose('process', 'linux')).toThrow(/no runtime driver runs linux containers with process isolation/);
    expect(() => registry.choose('vm', 'windows')).toThrow(`Invalid isolation: "vm". Windows supports 'default', 'process', or 'hyperv'`);
  });

  it('on a Windows client edition: default means Hyper-V', () => {
    const d = windowsDrivers();
    const registry = new RuntimeRegistry(d, { host: client });
    expect(registry.defaultIsolation).toBe('hyperv');
    expect(registry.choose('', 'windows')).toEqual({ isolation: 'hyperv', driver: d.hyperv });
  });
});

describe('routing', () => {
  it('sends each container to its driver, and a new registry finds the owners again', async () => {
    const d = windowsDrivers();
    const registry = new RuntimeRegistry(d, { host: server });
    const tag = randomBytes(3).toString('hex');
    await registry.create(spec(`p-${tag}`, { platform: { os: 'windows', architecture: 'amd64' } }));
    await registry.create(spec(`h-${tag}`, { platform: { os: 'windows', architecture: 'amd64' }, isolation: 'hyperv' }));
    await registry.create(spec(`l-${tag}`, { platform: { os: 'linux', architecture: 'amd64' } }));
    expect((await d.process.list()).map((s) => s.id)).toEqual([`p-${tag}`]);
    expect((await d.hyperv.list()).map((s) => s.id).sort()).toEqual([`h-${tag}`, `l-${tag}`]);

    // as after a daemon restart: nothing remembered, the owner is found by asking
    const again = new RuntimeRegistry(d, { host: server });
    await again.start(`l-${tag}`);
    expect(await again.wait(`l-${tag}`)).toEqual({ exitCode: 0, oomKilled: false });
    expect((await again.list()).map((s) => s.id).sort()).toEqual([`h-${tag}`, `l-${tag}`, `p-${tag}`]);
    await expect(again.state('nope')).rejects.toThrow(/no such container/);
    for (const id of [`p-${tag}`, `h-${tag}`, `l-${tag}`]) await again.delete(id, { force: true });
    expect(await again.list()).toEqual([]);
  });

  it('merges every driver\'s events into one stream', async () => {
    const d = windowsDrivers();
    const registry = new RuntimeRegistry(d, { host: server });
    const abort = new AbortController();
    const seen: string[] = [];
    const reading = (async () => {
      for await (const e of registry.events({ signal: abort.signal })) {
        seen.push(`${e.type}:${e.id}`);
        if (seen.length === 2) abort.abort();
      }
    })().catch(() => undefined);
    await new Promise((r) => setTimeout(r, 10));
    await registry.create(spec('ev-p', { platform: { os: 'windows', architecture: 'amd64' } }));
    await registry.create(spec('ev-h', { platform: { os: 'windows', architecture: 'amd64' }, isolation: 'hyperv' }));
    await reading;
    expect(seen.sort()).toEqual(['create:ev-h', 'create:ev-p']);
    await registry.delete('ev-p', { force: true });
    await registry.delete('ev-h', { force: true });
  });
});
