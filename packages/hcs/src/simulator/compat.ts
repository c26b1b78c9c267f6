/**
 * Which image builds HCS runs (Microsoft's version-compatibility matrix, FACTS.md §5):
 * process isolation needs the host's build (Server 2025 / Windows 11 also run Server 2022
 * images); Hyper-V isolation runs any build up to the host's. The simulator rejects the rest
 * with HCS_E_IMAGE_MISMATCH as HCS does. (@berth/image-format's isWindowsImageCompatible is
 * the engine's copy of the rule, for choosing images; this one is HCS's, for refusing them.)
 */
function build(version: string): number {
  return Number(version.split('.')[2] ?? 0);
}

export function hcsAcceptsImage(hostVersion: string, imageVersion: string, isolation: 'process' | 'hyperv'): boolean {
  const host = build(hostVersion);
  const image = build(imageVersion);
  if (isolation === 'hyperv') return image <= host;
  if (image === host) return true;
  return host >= 22000 && image === 20348 && host > image;
}
