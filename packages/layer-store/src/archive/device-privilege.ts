import { readFileSync } from 'node:fs';

const CAP_MKNOD = 27n;

/** What decides whether this process may make the device nodes of an image's layers. */
export interface ProcessPrivilege {
  euid: number;
  /** /proc/self/uid_map */
  uidMap: string;
  /** CapEff from /proc/self/status, hex */
  capEff: string;
}

/**
 * Whether layers may be applied privileged (device nodes made with their major/minor):
 * root with CAP_MKNOD in the host's user namespace, as dockerd running as root does.
 * Inside a user namespace (rootless) the kernel refuses mknod, and anyone else may not
 * plant device nodes on the host: such applies keep refusing them.
 */
export function mayMakeDeviceNodes(p: ProcessPrivilege = currentPrivilege()): boolean {
  if (p.euid !== 0) return false;
  // the initial namespace maps every id onto itself: "0 0 4294967295"
  const map = p.uidMap.trim().split(/\s+/);
  if (map.length !== 3 || map[0] !== '0' || map[1] !== '0' || map[2] !== '4294967295') return false;
  if (!/^[0-9a-f]+$/i.test(p.capEff)) return false;
  return ((BigInt(`0x${p.capEff}`) >> CAP_MKNOD) & 1n) === 1n;
}

function currentPrivilege(): ProcessPrivilege {
  const read = (path: string): string => {
    try {
      return readFileSync(path, 'utf8');
    } catch {
      return '';
    }
  };
  return {
    euid: process.geteuid?.() ?? -1,
    uidMap: read('/proc/self/uid_map'),
    capEff: /^CapEff:\s*([0-9a-f]+)/im.exec(read('/proc/self/status'))?.[1] ?? '',
  };
}
