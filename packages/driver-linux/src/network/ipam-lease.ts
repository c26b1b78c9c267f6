import { readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';

/*
 * host-local keeps a lease as a file named by the address in <dataDir>/<network>, holding
 * `<containerId>\r\n<ifname>` (older versions: the id alone). Releasing one is deleting
 * that file; doing it here spares detach a bridge DEL (two Go processes) whose only work
 * left, once the namespace and so the veth are gone, is exactly this.
 */

/**
 * Deletes the leases of `addresses` if each is held by this container and interface.
 * Returns false, touching nothing, when any is missing or held by someone else: the
 * caller then lets the plugin release by container id.
 */
export async function releaseHostLocalLeases(dataDir: string, network: string, addresses: string[], containerId: string, ifname: string): Promise<boolean> {
  if (addresses.length === 0 || !/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(network)) return false;
  const files: string[] = [];
  for (const address of addresses) {
    const ip = address.split('/')[0] ?? '';
    if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(ip)) return false;
    const file = join(dataDir, network, ip);
    let holder: string;
    try {
      holder = await readFile(file, 'utf8');
    } catch {
      return false;
    }
    const [id = '', iface] = holder.split('\r\n');
    if (id.trim() !== containerId || (iface !== undefined && iface.trim() !== ifname)) return false;
    files.push(file);
  }
  for (const file of files) await unlink(file);
  return true;
}
