// Which images this engine takes in: dockerd refuses an image whose OS its host cannot run
// (20.10 on Linux: every Windows image) at pull, load and import, with these texts. The
// engine's answer comes from its runtime drivers: an OS no registered driver runs is one
// the host cannot run (berthd on Windows runs windows and, through LCOW, linux).
import { InvalidArgumentError, parseImageConfig } from '@berth/image-format';

/** The runtime side's view of what it runs (the RuntimeRegistry's platforms). */
export interface HostOs {
  /** `linux` or `windows`: what dockerd's messages call the host. */
  os: string;
  runs(imageOs: string): boolean;
}

function osOf(config: unknown): string {
  const os = (config as { os?: unknown } | null)?.os;
  return typeof os === 'string' ? os : '';
}

/** Pull (moby's pullSchema2): after the config is fetched. */
export function checkPulledOs(host: HostOs | undefined, config: unknown): void {
  const os = osOf(config);
  if (!host || os === '' || host.runs(os)) return;
  throw new InvalidArgumentError(`image operating system "${os}" cannot be used on this platform`);
}

/** Load (moby's checkCompatibleOS): before the image's layers are read. */
export function checkLoadedOs(host: HostOs | undefined, configBytes: Buffer): void {
  let os = '';
  try {
    os = parseImageConfig(configBytes).os ?? '';
  } catch {
    return; // registering it reports what is wrong with the config
  }
  if (!host || os === '' || host.runs(os)) return;
  throw new InvalidArgumentError(`cannot load ${os} image on ${host.os}`);
}

/** Import with `platform` (moby's postImagesCreate): before the tar is read; dockerd answers 400. */
export function checkImportOs(host: HostOs | undefined, os: string): void {
  if (!host || os === '' || host.runs(os)) return;
  throw new InvalidArgumentError('operating system is not supported');
}
