import { release } from 'node:os';
import type { Descriptor } from './descriptor.js';
import { InvalidArgumentError, NotFoundError } from './errors.js';
import type { ImageIndex } from './manifest.js';
import type { Platform } from './platform-types.js';
import { parseWindowsVersion, windowsImageRank, type WindowsIsolation } from './windows-version.js';

/** An index with no entry a host of `wanted` can run (dockerd: "no matching manifest for …"). */
export class NoMatchingManifestError extends NotFoundError {
  constructor(
    message: string,
    readonly wanted: Platform,
  ) {
    super(message);
  }
}

/**
 * How a Windows host runs Windows images (see windows-version.ts for the rules). Without
 * a policy, a `want` platform carrying `os.version` (a Windows host's own platform) is its
 * host version, with either isolation.
 */
export interface WindowsPolicy {
  /** Undefined: either isolation (what a pull wants: the image may run under Hyper-V). */
  isolation?: WindowsIsolation;
  /** The host's version, e.g. `10.0.20348.2113`. */
  hostOsVersion: string;
}

export interface PlatformPolicy {
  windows?: WindowsPolicy;
}

const KNOWN_ARCHES = new Set([
  '386', 'i386', 'amd64', 'x86_64', 'x86-64', 'arm', 'armhf', 'armel', 'arm64', 'aarch64', 'ppc64le', 's390x',
  'riscv64', 'mips64le', 'loong64', 'wasm',
]);

/** Parses `os/arch[/variant]` (or `os` alone); the result is normalised. */
export function parsePlatform(spec: string): Platform {
  const parts = spec.split('/');
  if (parts.length > 3 || parts.some((p) => p === '' || !/^[A-Za-z0-9_.-]+$/.test(p))) {
    throw new InvalidArgumentError(`invalid platform "${spec}": expected os/arch[/variant]`);
  }
  const [os, architecture, variant] = parts as [string, string | undefined, string | undefined];
  if (architecture === undefined) {
    // `linux` alone means linux on this host's architecture, `arm64` alone this OS on
    // arm64, as containerd's platforms.Parse does.
    const host = hostPlatform();
    if (KNOWN_ARCHES.has(os.toLowerCase())) return normalizePlatform({ os: host.os, architecture: os });
    return normalizePlatform({ os, architecture: host.architecture, ...(host.variant ? { variant: host.variant } : {}) });
  }
  return normalizePlatform({ os, architecture, ...(variant !== undefined ? { variant } : {}) });
}

/** `os/arch[/variant]`. */
export function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter((x) => x !== undefined && x !== '').join('/');
}

function normalizeOs(os: string): string {
  const lower = os.toLowerCase();
  return lower === 'macos' ? 'darwin' : lower;
}

function normalizeArch(arch: string, variant: string | undefined): { architecture: string; variant?: string } {
  const a = arch.toLowerCase();
  let v = variant?.toLowerCase() ?? '';
  let out: string = a;
  switch (a) {
    case 'i386':
    case 'i686':
    case 'x86':
      out = '386';
      v = '';
      break;
    case 'x86_64':
    case 'x86-64':
    case 'amd64':
      out = 'amd64';
      if (v === 'v1') v = '';
      break;
    case 'aarch64':
    case 'arm64':
      out = 'arm64';
      // containerd drops v8 (the only arm64 baseline) so `arm64` and `arm64/v8` compare equal.
      if (v === '8' || v === 'v8' || v === 'v8.0') v = '';
      break;
    case 'armhf':
      out = 'arm';
      v = 'v7';
      break;
    case 'armel':
      out = 'arm';
      v = 'v6';
      break;
    case 'arm':
      if (v === '' || v === '7') v = 'v7';
      else if (v === '5' || v === '6' || v === '8') v = 'v' + v;
      break;
  }
  return v === '' ? { architecture: out } : { architecture: out, variant: v };
}

/** Normalises names the way containerd does (x86_64 -> amd64, aarch64 -> arm64, armhf -> arm/v7, ...). */
export function normalizePlatform(p: Platform): Platform {
  const { architecture, variant } = normalizeArch(p.architecture, p.variant);
  const out: Platform = { ...p, os: normalizeOs(p.os), architecture };
  if (variant === undefined) delete out.variant;
  else out.variant = variant;
  return out;
}

/** The platform of this process's host, from process.platform / process.arch. */
export function hostPlatform(): Platform {
  const os = ({ win32: 'windows', darwin: 'darwin', linux: 'linux', freebsd: 'freebsd' } as Record<string, string>)[
    process.platform
  ] ?? process.platform;
  let architecture: string = process.arch;
  let variant: string | undefined;
  switch (process.arch) {
    case 'x64':
      architecture = 'amd64';
      break;
    case 'ia32':
      architecture = '386';
      break;
    case 'arm64':
      architecture = 'arm64';
      variant = 'v8';
      break;
    case 'arm': {
      const armVersion = (process.config.variables as unknown as Record<string, unknown>).arm_version;
      variant = `v${typeof armVersion === 'string' || typeof armVersion === 'number' ? armVersion : 7}`;
      break;
    }
    case 'ppc64':
      architecture = 'ppc64le';
      break;
  }
  const p: Platform = { os, architecture, ...(variant ? { variant } : {}) };
  if (os === 'windows') p['os.version'] = release();
  return p;
}

function variantNumber(v: string | undefined): number | undefined {
  const m = /^v(\d+)$/.exec(v ?? '');
  return m ? Number(m[1]) : undefined;
}

/**
 * The platforms a host of `want` can run, best first (containerd's platform vector):
 * amd64/v3 runs v3, v2, v1; arm/v7 runs v7, v6, v5; arm64 runs arm64 then arm v8..v5.
 */
function platformVector(want: Platform): Array<{ architecture: string; variant?: string }> {
  const w = normalizePlatform(want);
  const out: Array<{ architecture: string; variant?: string }> = [];
  const n = variantNumber(w.variant);
  switch (w.architecture) {
    case 'amd64':
      for (let i = n ?? 1; i >= 2; i--) out.push({ architecture: 'amd64', variant: `v${i}` });
      out.push({ architecture: 'amd64' });
      break;
    case 'arm64':
      if (w.variant) out.push({ architecture: 'arm64', variant: w.variant });
      out.push({ architecture: 'arm64' });
      for (let i = 8; i >= 5; i--) out.push({ architecture: 'arm', variant: `v${i}` });
      break;
    case 'arm':
      out.push({ architecture: 'arm', ...(w.variant ? { variant: w.variant } : {}) });
      if (n !== undefined) for (let i = n - 1; i >= 5; i--) out.push({ architecture: 'arm', variant: `v${i}` });
      break;
    default:
      out.push(w.variant ? { architecture: w.architecture, variant: w.variant } : { architecture: w.architecture });
  }
  return out;
}

/**
 * How well an image for `have` suits a host of `want`: undefined when it cannot run,
 * else a score where lower is better.
 */
export function platformRank(want: Platform, have: Platform, policy?: PlatformPolicy): number | undefined {
  const w = normalizePlatform(want);
  const h = normalizePlatform(have);
  if (w.os !== h.os) return undefined;
  const pos = platformVector(w).findIndex((c) => c.architecture === h.architecture && c.variant === h.variant);
  if (pos === -1) return undefined;
  let rank = pos * 1e12;
  const hostOsVersion = policy?.windows?.hostOsVersion ?? w['os.version'];
  if (h.os === 'windows' && hostOsVersion !== undefined) {
    const host = parseWindowsVersion(hostOsVersion);
    if (!host) throw new InvalidArgumentError(`Windows host version "${hostOsVersion}" is not major.minor.build[.revision]`);
    const windowsRank = windowsImageRank(host, h['os.version'], policy?.windows?.isolation);
    if (windowsRank === undefined) return undefined;
    rank += windowsRank;
  }
  return rank;
}

/** True when a host of `want` can run an image built for `have`. */
export function matchPlatform(want: Platform, have: Platform, policy?: PlatformPolicy): boolean {
  return platformRank(want, have, policy) !== undefined;
}

/** `os/arch[/variant]`, with ` os.version X` when there is one (Windows builds matter). */
function describePlatform(p: Platform): string {
  return p['os.version'] ? `${formatPlatform(p)} os.version ${p['os.version']}` : formatPlatform(p);
}

/**
 * Picks the best entry of an index for a host of `want`: exact variant, then lower
 * compatible variants; for a Windows host (policy, or `want["os.version"]`) the host's
 * exact os.version, then its build at the highest revision, then the highest older
 * compatible build, never a newer one. Ties keep index order. Throws NotFound listing
 * what the index offers.
 */
export function selectManifest(index: ImageIndex, want: Platform, policy?: PlatformPolicy): Descriptor {
  let best: { d: Descriptor; rank: number } | undefined;
  for (const d of index.manifests) {
    if (!d.platform) continue;
    const rank = platformRank(want, d.platform, policy);
    if (rank !== undefined && (best === undefined || rank < best.rank)) best = { d, rank };
  }
  if (!best) {
    const offered = index.manifests.filter((d) => d.platform).map((d) => describePlatform(d.platform!)).join(', ');
    const hostOsVersion = policy?.windows?.hostOsVersion ?? want['os.version'];
    const wanted = describePlatform(hostOsVersion ? { ...want, 'os.version': hostOsVersion } : want);
    const how = policy?.windows?.isolation ? ` under ${policy.windows.isolation} isolation` : '';
    throw new NoMatchingManifestError(`no manifest for platform ${wanted}${how} in the index (it has: ${offered || 'none'})`, want);
  }
  return best.d;
}
