// Docker's --isolation: which kind of container a Windows host makes, and what a Linux host
// accepts. Pure functions over an injected host, so the Windows rules are tested on Linux.
import { version as osProductName } from 'node:os';
import { BerthError, InvalidArgumentError } from '@berth/image-format';

export type WindowsIsolationMode = 'process' | 'hyperv';

/** What the isolation rules need to know about the host. */
export interface IsolationHost {
  platform: NodeJS.Platform;
  /** os.version(): the product name, e.g. "Windows 10 Pro" or "Windows Server 2022 Datacenter". */
  productName: string;
}

export function currentIsolationHost(): IsolationHost {
  return { platform: process.platform, productName: osProductName() };
}

/** A client SKU (Windows 10/11) rather than Windows Server: the product name says which. */
export function isWindowsClient(host: IsolationHost): boolean {
  return host.platform === 'win32' && !/\bserver\b/i.test(host.productName);
}

const isDefault = (v: string): boolean => v === '' || v.toLowerCase() === 'default';
const windowsMode = (v: string): WindowsIsolationMode | undefined => {
  const l = v.toLowerCase();
  return l === 'process' || l === 'hyperv' ? l : undefined;
};

/**
 * The daemon's default isolation, Docker's `docker info` Isolation: none on Linux; on
 * Windows hyperv on client SKUs and process on Server, unless `--exec-opt isolation=X`
 * (the last one given) says otherwise.
 */
export function defaultIsolation(host: IsolationHost, execOpts: readonly string[] = []): '' | WindowsIsolationMode {
  if (host.platform !== 'win32') return '';
  let mode: WindowsIsolationMode = isWindowsClient(host) ? 'hyperv' : 'process';
  for (const opt of execOpts) {
    const eq = opt.indexOf('=');
    if (eq < 0 || opt.slice(0, eq).trim().toLowerCase() !== 'isolation') continue;
    const value = opt.slice(eq + 1).trim();
    if (isDefault(value)) continue;
    const m = windowsMode(value);
    if (!m) throw new InvalidArgumentError(`Invalid exec-opt value for 'isolation':'${value}'`);
    mode = m;
  }
  return mode;
}

/**
 * Checks a create's HostConfig.Isolation as dockerd's decoder does, before anything else
 * (so an unknown image is not reported first), and returns what is stored: on Windows an
 * empty or default value becomes the daemon default (so inspect shows process or hyperv);
 * on Linux the value as given. Docker 20.10 answers these with a plain error: 500.
 */
export function resolveIsolation(value: string | undefined, host: IsolationHost, daemonDefault: '' | WindowsIsolationMode): string {
  const v = value ?? '';
  if (host.platform === 'win32') {
    if (isDefault(v)) return daemonDefault;
    if (!windowsMode(v)) throw new BerthError('Internal', `Invalid isolation: "${v}". Windows supports 'default', 'process', or 'hyperv'`);
    return v;
  }
  if (!isDefault(v)) throw new BerthError('Internal', `Invalid isolation: "${v}" - ${host.platform} only supports 'default'`);
  return v;
}
