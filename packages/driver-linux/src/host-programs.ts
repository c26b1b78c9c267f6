// The host programs driver-linux runs, checked at once when a daemon starts: a missing
// one otherwise shows up deep in the first container start (a CNI ADD, a conmon spawn)
// with an error that names neither the program nor where to get it.
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { delimiter, join } from 'node:path';

export interface HostProgram {
  /** What it is for, in the message. */
  what: string;
  /** Any one of these will do (crun or runc). */
  anyOf: string[];
  /** The Debian package that brings the first of them. */
  debian: string;
  /** CNI plugins are looked for in the plugin folders, not on PATH. */
  cni?: boolean;
}

/** What driver-linux needs besides node (util-linux and perl are in every Debian). */
export const HOST_PROGRAMS: readonly HostProgram[] = [
  { what: 'an OCI runtime', anyOf: ['crun', 'runc'], debian: 'crun' },
  { what: 'the container monitor', anyOf: ['conmon'], debian: 'conmon' },
  { what: 'the CNI bridge plugin', anyOf: ['bridge'], debian: 'containernetworking-plugins', cni: true },
  { what: 'the CNI host-local plugin', anyOf: ['host-local'], debian: 'containernetworking-plugins', cni: true },
  { what: 'the CNI portmap plugin', anyOf: ['portmap'], debian: 'containernetworking-plugins', cni: true },
  { what: 'iptables', anyOf: ['iptables'], debian: 'iptables' },
  { what: 'iptables-restore', anyOf: ['iptables-restore'], debian: 'iptables' },
  { what: 'ip', anyOf: ['ip'], debian: 'iproute2' },
];

/** Where findExecutable looks after PATH (oci/runtime.ts), so the check agrees with the driver. */
export const SYSTEM_BIN_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];
/** CniNetworkManager's default plugin folders. */
export const DEFAULT_CNI_DIRS = ['/usr/lib/cni', '/opt/cni/bin'];

export interface HostCheckOptions {
  /** Folders searched for programs; default PATH then SYSTEM_BIN_DIRS. */
  binDirs?: string[];
  /** Folders searched for CNI plugins; default DEFAULT_CNI_DIRS. */
  cniDirs?: string[];
  /** A configured runtime (name or path) replaces "crun or runc". */
  runtime?: string;
}

async function executable(path: string): Promise<boolean> {
  return access(path, constants.X_OK).then(
    () => true,
    () => false,
  );
}

/** The programs none of whose names is found, in HOST_PROGRAMS order. */
export async function missingHostPrograms(options: HostCheckOptions = {}): Promise<HostProgram[]> {
  const binDirs = options.binDirs ?? [...(process.env['PATH'] ?? '').split(delimiter).filter(Boolean), ...SYSTEM_BIN_DIRS];
  const cniDirs = options.cniDirs ?? DEFAULT_CNI_DIRS;
  const missing: HostProgram[] = [];
  for (const program of HOST_PROGRAMS) {
    const wanted = program.anyOf.includes('crun') && options.runtime ? { ...program, anyOf: [options.runtime] } : program;
    const found = await Promise.all(
      wanted.anyOf.flatMap((name) => (name.includes('/') ? [name] : (wanted.cni ? cniDirs : binDirs).map((dir) => join(dir, name)))).map(executable),
    );
    if (!found.includes(true)) missing.push(wanted);
  }
  return missing;
}

/** One message naming every missing program and the Debian packages that bring them. */
export function describeMissingPrograms(missing: readonly HostProgram[]): string {
  const names = missing.map((p) => (p.anyOf.length > 1 ? `${p.anyOf.join(' or ')} (${p.what})` : p.what === p.anyOf[0] ? p.anyOf[0] : `${p.anyOf[0]} (${p.what})`));
  const packages = [...new Set(missing.map((p) => p.debian))];
  return `missing host programs: ${names.join(', ')}; on Debian or Ubuntu: apt-get install ${packages.join(' ')}`;
}
