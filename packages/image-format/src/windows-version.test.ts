import { describe, expect, it } from 'vitest';
import type { Descriptor } from './descriptor.js';
import type { ImageIndex } from './manifest.js';
import { matchPlatform, selectManifest } from './platform.js';
import type { Platform } from './platform-types.js';
import { isWindowsImageCompatible, parseWindowsVersion } from './windows-version.js';

// Builds: ltsc2016 14393, 1809/ltsc2019 17763, ltsc2022 20348, Windows 11 21H2 22000,
// 22H2 22621, 23H2 22631, ltsc2025 and Windows 11 24H2 26100.
const V = {
  ltsc2016: '10.0.14393.6796',
  ltsc2019: '10.0.17763.5576',
  ltsc2022: '10.0.20348.2340',
  win11_21h2: '10.0.22000.2836',
  win11_22h2: '10.0.22621.3296',
  win11_23h2: '10.0.22631.3296',
  ltsc2025: '10.0.26100.1742',
} as const;
type Name = keyof typeof V;

/** [host, image, process, hyperv]: Microsoft's matrix as containerd encodes it. */
const TABLE: Array<[Name, Name | string, boolean, boolean]> = [
  // Windows Server 2016 host: its own build only; Hyper-V runs nothing newer either.
  ['ltsc2016', 'ltsc2016', true, true],
  ['ltsc2016', '10.0.14393.1000', true, true], // revision differs: HCS starts it (Microsoft supports only matching UBR here)
  ['ltsc2016', 'ltsc2019', false, false],
  ['ltsc2016', 'ltsc2022', false, false],
  // Windows Server 2019 / 1809 host
  ['ltsc2019', 'ltsc2019', true, true],
  ['ltsc2019', '10.0.17763.1', true, true], // revision may differ from 1809 on
  ['ltsc2019', 'ltsc2016', false, true],
  ['ltsc2019', 'ltsc2022', false, false],
  ['ltsc2019', 'ltsc2025', false, false],
  // Windows Server 2022 host
  ['ltsc2022', 'ltsc2022', true, true],
  ['ltsc2022', '10.0.20348.169', true, true],
  ['ltsc2022', 'ltsc2019', false, true],
  ['ltsc2022', 'ltsc2016', false, true],
  ['ltsc2022', 'win11_22h2', false, false],
  ['ltsc2022', 'ltsc2025', false, false],
  // Windows Server 2025 host: the stable ABI runs Server 2022 images under process isolation
  ['ltsc2025', 'ltsc2025', true, true],
  ['ltsc2025', 'ltsc2022', true, true],
  ['ltsc2025', 'ltsc2019', false, true],
  ['ltsc2025', 'ltsc2016', false, true],
  ['ltsc2025', '10.0.26200.1', false, false],
  // Windows 11 hosts: Server 2022 images under process isolation, older ones under Hyper-V
  ['win11_21h2', 'ltsc2022', true, true],
  ['win11_21h2', 'win11_21h2', true, true],
  ['win11_21h2', 'ltsc2019', false, true],
  ['win11_21h2', 'win11_22h2', false, false],
  ['win11_21h2', 'ltsc2025', false, false],
  ['win11_22h2', 'ltsc2022', true, true],
  ['win11_22h2', 'ltsc2019', false, true],
  ['win11_22h2', 'ltsc2016', false, true],
  ['win11_22h2', 'win11_23h2', false, false],
  ['win11_22h2', 'ltsc2025', false, false],
  ['win11_23h2', 'ltsc2022', true, true],
  ['win11_23h2', 'win11_22h2', true, true],
  ['win11_23h2', 'ltsc2019', false, true],
  ['win11_23h2', 'ltsc2025', false, false],
  ['ltsc2025', 'win11_23h2', true, true], // Windows 11 24H2 is build 26100 too
  // not Windows 10.0 versions, or not versions at all
  ['ltsc2022', '6.3.9600.0', false, false],
  ['ltsc2022', '11.0.20348.1', false, false],
  ['ltsc2022', '', false, false],
  ['ltsc2022', 'ltsc2022-but-not-a-version', false, false],
];

describe('isWindowsImageCompatible', () => {
  it.each(TABLE)('host %s, image %s: process %s, hyperv %s', (host, image, process, hyperv) => {
    const img = image in V ? V[image as Name] : image;
    expect(isWindowsImageCompatible({ host: V[host], image: img, isolation: 'process' })).toBe(process);
    expect(isWindowsImageCompatible({ host: V[host], image: img, isolation: 'hyperv' })).toBe(hyperv);
  });

  it('accepts three-part host versions (what Node reports on Windows) and refuses unparseable hosts', () => {
    expect(isWindowsImageCompatible({ host: '10.0.20348', image: V.ltsc2022, isolation: 'process' })).toBe(true);
    expect(isWindowsImageCompatible({ host: '10.0.26100', image: V.ltsc2022, isolation: 'process' })).toBe(true);
    expect(isWindowsImageCompatible({ host: 'Windows', image: V.ltsc2022, isolation: 'hyperv' })).toBe(false);
    expect(parseWindowsVersion('10.0.20348')).toEqual({ major: 10, minor: 0, build: 20348, revision: 0 });
  });

  it('process isolation admits a subset of what Hyper-V admits, on every pair', () => {
    const all = Object.values(V);
    for (const host of all) {
      for (const image of all) {
        if (isWindowsImageCompatible({ host, image, isolation: 'process' })) {
          expect(isWindowsImageCompatible({ host, image, isolation: 'hyperv' })).toBe(true);
        }
      }
    }
  });
});

const win = (v?: string): Platform => ({ os: 'windows', architecture: 'amd64', ...(v ? { 'os.version': v } : {}) });
const index = (...ps: Platform[]): ImageIndex => ({
  schemaVersion: 2,
  manifests: ps.map((platform, n): Descriptor => ({
    mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
    digest: `sha256:${String(n).padStart(64, '0')}`,
    size: 1,
    platform,
  })),
});
const chosen = (idx: ImageIndex, host: string, isolation?: 'process' | 'hyperv'): string | undefined =>
  (isolation ? selectManifest(idx, win(), { windows: { isolation, hostOsVersion: host } }) : selectManifest(idx, win(host))).platform?.['os.version'];

describe('Windows index selection', () => {
  // The shape of mcr.microsoft.com/windows/nanoserver's multi-build tags, plus a Linux entry.
  const mcr = index(
    { os: 'linux', architecture: 'amd64' },
    win('10.0.17763.5576'),
    win('10.0.20348.2113'),
    win('10.0.20348.2340'),
    win('10.0.20348.2402'),
    win('10.0.26100.1742'),
  );

  it("prefers the host's exact os.version, then its build at the highest revision", () => {
    expect(chosen(mcr, '10.0.20348.2340')).toBe('10.0.20348.2340');
    expect(chosen(mcr, '10.0.20348.2340', 'process')).toBe('10.0.20348.2340');
    expect(chosen(mcr, '10.0.20348.2340', 'hyperv')).toBe('10.0.20348.2340');
    expect(chosen(mcr, '10.0.20348.2500')).toBe('10.0.20348.2402');
    expect(chosen(mcr, '10.0.20348')).toBe('10.0.20348.2402');
    expect(chosen(mcr, '10.0.26100.2033')).toBe('10.0.26100.1742');
  });

  it('then the highest compatible build, never one newer than the host', () => {
    const noExact = index(win('10.0.14393.6796'), win('10.0.17763.5576'), win('10.0.20348.2340'), win('10.0.26100.1742'));
    // Windows 11 23H2 has no images of its own: Server 2022's under either isolation.
    expect(chosen(noExact, '10.0.22631.3296')).toBe('10.0.20348.2340');
    expect(chosen(noExact, '10.0.22631.3296', 'process')).toBe('10.0.20348.2340');
    const old = index(win('10.0.14393.6796'), win('10.0.17763.5576'), win('10.0.26100.1742'));
    expect(chosen(old, '10.0.20348.2340')).toBe('10.0.17763.5576');
    expect(chosen(old, '10.0.20348.2340', 'hyperv')).toBe('10.0.17763.5576');
    expect(() => chosen(old, '10.0.20348.2340', 'process')).toThrow(
      /no manifest for platform windows\/amd64 os\.version 10\.0\.20348\.2340 under process isolation .*10\.0\.17763\.5576/,
    );
    const newer = index(win('10.0.20348.2340'), win('10.0.26100.1742'));
    expect(() => chosen(newer, '10.0.17763.5576')).toThrow(/no manifest/);
    expect(() => chosen(newer, '10.0.17763.5576', 'hyperv')).toThrow(/no manifest/);
  });

  it('takes an entry without os.version only when no versioned one fits (as moby sorts them last)', () => {
    expect(chosen(index(win(), win('10.0.17763.5576')), '10.0.20348.2340')).toBe('10.0.17763.5576');
    expect(chosen(index(win(), win('10.0.26100.1')), '10.0.20348.2340')).toBeUndefined();
  });

  it('still prefers the architecture vector first, and leaves Linux alone', () => {
    const mixed = index({ os: 'windows', architecture: 'arm64', 'os.version': '10.0.20348.2340' }, win('10.0.17763.5576'));
    expect(chosen(mixed, '10.0.20348.2340')).toBe('10.0.17763.5576');
    expect(selectManifest(mcr, { os: 'linux', architecture: 'amd64' }).platform).toEqual({ os: 'linux', architecture: 'amd64' });
    expect(matchPlatform(win('10.0.20348.1'), { os: 'linux', architecture: 'amd64' })).toBe(false);
    // a Linux host asking for windows/amd64 without a version: any build, index order (unchanged)
    expect(selectManifest(mcr, win()).platform?.['os.version']).toBe('10.0.17763.5576');
  });

  it('refuses a host version that is not one', () => {
    expect(() => selectManifest(mcr, win('20348'))).toThrow(/not major\.minor\.build/);
  });
});

describe('foreign layer media types', () => {
  it("knows Docker's uncompressed and gzip foreign layers as non-distributable layers", async () => {
    const { isNonDistributable, layerCompression, MediaType } = await import('./media-types.js');
    expect(isNonDistributable(MediaType.DockerForeignLayer)).toBe(true);
    expect(isNonDistributable(MediaType.DockerForeignLayerGzip)).toBe(true);
    expect(layerCompression(MediaType.DockerForeignLayer)).toBe('none');
    expect(layerCompression(MediaType.DockerForeignLayerGzip)).toBe('gzip');
    expect(isNonDistributable(MediaType.DockerLayerGzip)).toBe(false);
  });
});
