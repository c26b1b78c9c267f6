import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Descriptor } from './descriptor.js';
import type { ImageIndex } from './manifest.js';
import {
  formatPlatform, hostPlatform, matchPlatform, normalizePlatform, parsePlatform, selectManifest,
} from './platform.js';
import type { Platform } from './platform-types.js';

const entry = (platform: Platform, n: number): Descriptor => ({
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  digest: `sha256:${String(n).padStart(64, '0')}`,
  size: 1,
  platform,
});
const index = (...ps: Platform[]): ImageIndex => ({ schemaVersion: 2, manifests: ps.map(entry) });

describe('platforms', () => {
  it('parses, normalises and formats', () => {
    expect(parsePlatform('linux/arm64/v8')).toEqual({ os: 'linux', architecture: 'arm64' });
    expect(parsePlatform('linux/x86_64')).toEqual({ os: 'linux', architecture: 'amd64' });
    expect(parsePlatform('Linux/x86-64')).toEqual({ os: 'linux', architecture: 'amd64' });
    expect(parsePlatform('linux/aarch64')).toEqual({ os: 'linux', architecture: 'arm64' });
    expect(parsePlatform('linux/armhf')).toEqual({ os: 'linux', architecture: 'arm', variant: 'v7' });
    expect(parsePlatform('linux/armel')).toEqual({ os: 'linux', architecture: 'arm', variant: 'v6' });
    expect(parsePlatform('linux/arm')).toEqual({ os: 'linux', architecture: 'arm', variant: 'v7' });
    expect(parsePlatform('linux/i386')).toEqual({ os: 'linux', architecture: '386' });
    expect(parsePlatform('macos/arm64')).toEqual({ os: 'darwin', architecture: 'arm64' });
    expect(parsePlatform('linux').os).toBe('linux');
    expect(parsePlatform('aarch64')).toEqual({ os: 'linux', architecture: 'arm64' });
    expect(formatPlatform({ os: 'linux', architecture: 'arm', variant: 'v7' })).toBe('linux/arm/v7');
    expect(() => parsePlatform('linux//v7')).toThrow(/os\/arch\[\/variant\]/);
    expect(() => parsePlatform('a/b/c/d')).toThrow(/invalid platform/);
  });

  it('knows the host', () => {
    const h = hostPlatform();
    expect(h.os).toBe('linux');
    expect(matchPlatform(h, h)).toBe(true);
  });

  it('matches compatible variants as containerd does', () => {
    const p = parsePlatform;
    expect(matchPlatform(p('linux/arm64'), p('linux/arm64/v8'))).toBe(true);
    expect(matchPlatform(p('linux/arm/v7'), p('linux/arm/v6'))).toBe(true);
    expect(matchPlatform(p('linux/arm/v6'), p('linux/arm/v7'))).toBe(false);
    expect(matchPlatform(p('linux/arm64'), p('linux/arm/v7'))).toBe(true);
    expect(matchPlatform(p('linux/amd64/v3'), p('linux/amd64/v2'))).toBe(true);
    expect(matchPlatform(p('linux/amd64'), p('linux/amd64/v3'))).toBe(false);
    expect(matchPlatform(p('linux/amd64'), p('windows/amd64'))).toBe(false);
  });

  it('selects the best entry of an index', () => {
    const p = parsePlatform;
    const idx = index(p('linux/arm/v6'), p('linux/arm/v7'), p('linux/amd64'), p('linux/arm64/v8'), { os: 'unknown', architecture: 'unknown' });
    expect(selectManifest(idx, p('linux/arm/v7')).platform).toEqual(p('linux/arm/v7'));
    expect(selectManifest(index(p('linux/arm/v5'), p('linux/arm/v6')), p('linux/arm/v7')).platform?.variant).toBe('v6');
    expect(selectManifest(idx, p('linux/aarch64')).platform?.architecture).toBe('arm64');
    expect(selectManifest(index(p('linux/arm/v7')), p('linux/arm64')).platform?.variant).toBe('v7');
    expect(selectManifest(index(p('linux/amd64'), p('linux/amd64/v2'), p('linux/amd64/v4')), p('linux/amd64/v3')).platform?.variant).toBe('v2');
    expect(() => selectManifest(idx, p('linux/s390x'))).toThrow(/no manifest for platform linux\/s390x .*linux\/arm\/v6/);
  });

  it('applies the Windows isolation policy', () => {
    const win = (v: string): Platform => ({ os: 'windows', architecture: 'amd64', 'os.version': v });
    const idx = index(win('10.0.17763.5329'), win('10.0.20348.2113'), win('10.0.20348.2227'), win('10.0.26100.1'));
    const want: Platform = { os: 'windows', architecture: 'amd64' };
    const host = '10.0.20348.2000';
    expect(selectManifest(idx, want, { windows: { isolation: 'process', hostOsVersion: host } }).platform?.['os.version']).toBe('10.0.20348.2227');
    expect(selectManifest(idx, want, { windows: { isolation: 'hyperv', hostOsVersion: host } }).platform?.['os.version']).toBe('10.0.20348.2227');
    expect(() => selectManifest(index(win('10.0.17763.5329')), want, { windows: { isolation: 'process', hostOsVersion: host } })).toThrow(/no manifest/);
    expect(selectManifest(index(win('10.0.17763.5329'), win('10.0.26100.1')), want, { windows: { isolation: 'hyperv', hostOsVersion: host } }).platform?.['os.version']).toBe('10.0.17763.5329');
    expect(() => selectManifest(index(win('10.0.26100.1')), want, { windows: { isolation: 'hyperv', hostOsVersion: host } })).toThrow(/no manifest/);
  });
});

const arch = fc.constantFrom('amd64', 'x86_64', 'arm64', 'aarch64', 'arm', 'armhf', 'armel', '386', 'i386', 'ppc64le', 's390x', 'riscv64');
const variant = fc.option(fc.constantFrom('v5', 'v6', 'v7', 'v8', 'v2', 'v3', 'v4'), { nil: undefined });
const os = fc.constantFrom('linux', 'Linux', 'windows', 'darwin', 'macos');
const platform = fc.record({ os, architecture: arch, variant }).map((p): Platform =>
  p.variant === undefined ? { os: p.os, architecture: p.architecture } : { os: p.os, architecture: p.architecture, variant: p.variant });

describe('platform properties', () => {
  it('normalising is idempotent and formatting round-trips through parsing', () => {
    fc.assert(fc.property(platform, (p) => {
      const n = normalizePlatform(p);
      expect(normalizePlatform(n)).toEqual(n);
      expect(parsePlatform(formatPlatform(n))).toEqual(n);
    }), { numRuns: 500 });
  });

  it('every platform matches itself and its normalised spelling', () => {
    fc.assert(fc.property(platform, (p) => {
      expect(matchPlatform(p, p)).toBe(true);
      expect(matchPlatform(p, normalizePlatform(p))).toBe(true);
      expect(matchPlatform(normalizePlatform(p), p)).toBe(true);
    }), { numRuns: 500 });
  });

  it('selectManifest returns a matching entry whenever one exists, and the exact one if present', () => {
    fc.assert(fc.property(platform, fc.array(platform, { maxLength: 8 }), (want, have) => {
      const idx = index(...have);
      const any = have.some((h) => matchPlatform(want, h));
      if (!any) {
        expect(() => selectManifest(idx, want)).toThrow(/no manifest/);
        return;
      }
      const chosen = selectManifest(idx, want).platform!;
      expect(matchPlatform(want, chosen)).toBe(true);
      const exact = have.find((h) => {
        const a = normalizePlatform(h);
        const b = normalizePlatform(want);
        return a.os === b.os && a.architecture === b.architecture && a.variant === b.variant;
      });
      if (exact) expect(normalizePlatform(chosen)).toEqual(normalizePlatform(exact));
    }), { numRuns: 500 });
  });
});
