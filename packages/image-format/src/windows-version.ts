/**
 * Which Windows image builds a Windows host runs, after Microsoft's version-compatibility
 * matrix (learn.microsoft.com/virtualization/windowscontainers/deploy-containers/version-compatibility)
 * as containerd's platforms matcher encodes it (platform_windows_compat.go):
 *
 * - Process isolation shares the host's kernel. Before Windows Server 2022 (build 20348)
 *   the image's build must equal the host's. From 20348 on, Windows keeps a stable ABI
 *   for the previous LTSC: a host runs images from 20348 up to its own build (Server 2025
 *   and Windows 11 run Server 2022 images). The revision (UBR) need not match; Microsoft
 *   supports a differing revision only from 1809 on, so on a Server 2016 host selection
 *   still prefers the exact revision (HCS starts it either way).
 * - Hyper-V isolation boots the image's own kernel in a utility VM: any build up to the
 *   host's.
 * - Nothing newer than the host runs, under either isolation; major.minor must match.
 */

export type WindowsIsolation = 'process' | 'hyperv';

export interface WindowsVersion {
  major: number;
  minor: number;
  build: number;
  /** The update revision (UBR); 0 when the version has only three parts. */
  revision: number;
}

/** Windows Server 2016 (ltsc2016). */
export const WINDOWS_BUILD_LTSC2016 = 14393;
/** Windows Server 2019 / version 1809 (ltsc2019). */
export const WINDOWS_BUILD_LTSC2019 = 17763;
/** Windows Server 2022 (ltsc2022), the first stable-ABI LTSC. */
export const WINDOWS_BUILD_LTSC2022 = 20348;
/** Windows Server 2025 (ltsc2025) and Windows 11 24H2. */
export const WINDOWS_BUILD_LTSC2025 = 26100;

/** LTSC builds whose images later hosts keep running under process isolation, ascending. */
const STABLE_ABI_LTSC = [WINDOWS_BUILD_LTSC2022];

/** Parses `major.minor.build[.revision]` (an os.version); undefined when it is not one. */
export function parseWindowsVersion(v: string | undefined): WindowsVersion | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,5})(?:\.(\d{1,9}))?$/.exec(v ?? '');
  if (!m) return undefined;
  return { major: Number(m[1]), minor: Number(m[2]), build: Number(m[3]), revision: Number(m[4] ?? 0) };
}

/** The oldest image build a host of `hostBuild` runs under process isolation. */
function oldestProcessBuild(hostBuild: number): number {
  if (hostBuild < STABLE_ABI_LTSC[0]!) return hostBuild;
  let oldest = hostBuild;
  for (const ltsc of STABLE_ABI_LTSC) if (hostBuild >= ltsc) oldest = ltsc;
  return oldest;
}

function compatible(host: WindowsVersion, image: WindowsVersion, isolation: WindowsIsolation): boolean {
  if (host.major !== image.major || host.minor !== image.minor) return false;
  if (image.build > host.build) return false;
  if (isolation === 'hyperv') return true;
  return image.build >= oldestProcessBuild(host.build);
}

/**
 * True when a Windows host of os.version `host` runs an image of os.version `image`
 * under `isolation`. Unparseable versions are incompatible.
 */
export function isWindowsImageCompatible(args: { host: string; image: string; isolation: WindowsIsolation }): boolean {
  const host = parseWindowsVersion(args.host);
  const image = parseWindowsVersion(args.image);
  if (!host || !image) return false;
  return compatible(host, image, args.isolation);
}

/**
 * How well an image of os.version `image` suits a host of `host`: undefined when it
 * cannot run, else a score where lower is better. The host's exact os.version first,
 * then its build at the highest revision, then the highest older compatible build at its
 * highest revision; an entry without an os.version matches last (as moby and containerd
 * let it through). `isolation` undefined means either: the Hyper-V rule, which admits
 * every build process isolation admits.
 */
export function windowsImageRank(host: WindowsVersion, image: string | undefined, isolation?: WindowsIsolation): number | undefined {
  if (image === undefined || image === '') return 5e11;
  const v = parseWindowsVersion(image);
  if (!v || !compatible(host, v, isolation ?? 'hyperv')) return undefined;
  // Builds are below 1e5 and revisions are clamped below 1e6, so the terms never overlap.
  const newestRevisionFirst = 999_999 - Math.min(v.revision, 999_999);
  if (v.build === host.build) return v.revision === host.revision ? 0 : 1 + newestRevisionFirst;
  return 1e9 + (host.build - v.build) * 1e6 + newestRevisionFirst;
}
