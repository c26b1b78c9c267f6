/**
 * @berth/hcs/koffi — HcsApi over computecore.dll, computestorage.dll, computenetwork.dll
 * and vmcompute.dll through koffi. Importing this module loads nothing: koffi and the DLLs
 * are loaded by openKoffiHcs(), on Windows only. Elsewhere it refuses with an
 * UnsupportedError naming the simulator.
 */
import { UnsupportedError } from '@berth/image-format';
import type { HcsApi } from '../api.js';
import type { KoffiModule } from './prototypes.js';

export { COMPUTECORE, COMPUTESTORAGE, COMPUTENETWORK, VMCOMPUTE, KERNEL32, OLE32, LIBRARIES, declareTypes, functionName, type KoffiModule } from './prototypes.js';
export { guidToString } from './native.js';

export interface OpenKoffiHcsOptions {
  /** For tests: the platform to assume (default process.platform). */
  platform?: NodeJS.Platform;
}

/** The real HCS of this Windows host. */
export async function openKoffiHcs(options: OpenKoffiHcsOptions = {}): Promise<HcsApi> {
  const platform = options.platform ?? process.platform;
  if (platform !== 'win32') {
    throw new UnsupportedError(
      `@berth/hcs/koffi binds computecore.dll, computestorage.dll and computenetwork.dll, which exist only on Windows (this is ${platform}); use HcsSimulator from @berth/hcs/simulator here`,
    );
  }
  const mod = (await import('koffi')) as unknown as { default?: KoffiModule } & KoffiModule;
  const koffi = mod.default ?? mod;
  const [{ openNative }, { KoffiHcs }] = await Promise.all([import('./native.js'), import('./hcs.js')]);
  return new KoffiHcs(openNative(koffi));
}
export {
  AF_HYPERV,
  SOCK_STREAM,
  HV_PROTOCOL_RAW,
  HV_GUID_WILDCARD,
  WS2_32,
  declareHvsockTypes,
  guidFromString,
  vsockServiceId,
  hvsockDuplex,
  listenHvsock,
  type Guid,
  type Winsock,
  type HvsockListener,
} from './hvsock.js';
