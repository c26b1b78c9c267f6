// Which drivers berthd composes, by the platform it runs on: driver-linux's on Linux; on
// Windows the HCS drivers over the koffi binding of computecore/computestorage/computenetwork
// (loaded only there, and only then). Tests on Linux compose a Windows berthd by passing
// `platform: { os: 'win32', hcs: new HcsSimulator() }`: everything above the HcsApi is then
// the code a Windows host runs.
import { version } from 'node:os';
import type { DriverContext, EngineDrivers, IsolationHost } from '@berth/engine';
import type { HcsApi, HvsockTransport } from '@berth/hcs';
import { linuxDriverSet } from '@berth/driver-linux';
import { UnsupportedError } from '@berth/image-format';

/** The platform berthd composes for (DaemonOptions.platform; default this machine's). */
export interface DaemonPlatform {
  os: NodeJS.Platform;
  /** os.version()'s product name: Windows client SKUs default to Hyper-V isolation, Server to process. */
  productName?: string;
  /** Windows: the HCS to drive (default the real one through @berth/hcs/koffi). */
  hcs?: HcsApi;
  /** Windows: where LCOW guests connect (default real AF_HYPERV sockets; with the simulator, its `hvsock`). */
  hvsock?: HvsockTransport;
  /** Windows: LinuxBootFiles for LCOW (default next to berthd, then `%ProgramFiles%\Linux Containers`). */
  linuxBootFiles?: string;
}

export function currentPlatform(): DaemonPlatform {
  return { os: process.platform, productName: version() };
}

export function isolationHost(p: DaemonPlatform): IsolationHost {
  return { platform: p.os, productName: p.productName ?? '' };
}

/** The composition root's driver factory for the platform. */
export function driverSetFor(p: DaemonPlatform): (ctx: DriverContext) => Promise<EngineDrivers> {
  if (p.os !== 'win32') return async (ctx) => linuxDriverSet(ctx);
  return async (ctx) => {
    // loaded on Windows only: none of it (nor koffi) is read by a Linux berthd
    const [{ windowsDriverSet }, hcs] = await Promise.all([import('@berth/driver-windows-hyperv'), p.hcs ?? openHcs()]);
    return windowsDriverSet(ctx, { hcs, ...(p.hvsock ? { hvsock: p.hvsock } : {}), ...(p.linuxBootFiles ? { linuxBootFiles: p.linuxBootFiles } : {}) });
  };
}

/**
 * The real HCS through koffi. koffi is an optional peer of berthd, not a dependency: its
 * package runs an install script, which an installed Berth must not (and Linux needs none
 * of it), so a Windows host installs it beside berthd.
 */
async function openHcs(): Promise<HcsApi> {
  const { openKoffiHcs } = await import('@berth/hcs/koffi');
  try {
    return await openKoffiHcs();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' && /koffi/.test((err as Error).message)) {
      throw new UnsupportedError('berthd on Windows drives HCS through koffi, which is not installed: npm i -g koffi@3.3.4', { cause: err });
    }
    throw err;
  }
}
