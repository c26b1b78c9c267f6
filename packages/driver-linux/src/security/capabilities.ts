import { InvalidArgumentError } from '@berth/image-format';

/** Docker's default set: what most images need, nothing that reaches outside the container. */
export const DEFAULT_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW',
  'CAP_SETGID', 'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];

/** Every capability up to Linux 5.9 (CAP_CHECKPOINT_RESTORE = 40). */
export const ALL_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL',
  'CAP_SETGID', 'CAP_SETUID', 'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST', 'CAP_NET_ADMIN', 'CAP_NET_RAW', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER',
  'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE', 'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN', 'CAP_SYS_BOOT', 'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE', 'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP', 'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG', 'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ', 'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
];

function normalize(name: string): string {
  const upper = name.trim().toUpperCase();
  if (upper === 'ALL') return 'ALL';
  const full = upper.startsWith('CAP_') ? upper : `CAP_${upper}`;
  if (!ALL_CAPABILITIES.includes(full)) throw new InvalidArgumentError(`unknown capability ${name}`);
  return full;
}

/**
 * The effective capability set: the default set (or all when privileged), then
 * `capAdd`, then `capDrop`; `ALL` in either list means every capability.
 * Like Docker, adding wins over dropping the same capability only via ALL semantics:
 * `capDrop: ['ALL'], capAdd: ['NET_ADMIN']` keeps NET_ADMIN.
 */
export function resolveCapabilities(
  options: { privileged?: boolean; capAdd?: string[]; capDrop?: string[] },
  /** The host's bounding set: a container cannot get more (the runtime's capset would fail). */
  hostCapabilities: readonly string[] = ALL_CAPABILITIES,
): string[] {
  const wanted = resolveWanted(options);
  return wanted.filter((c) => hostCapabilities.includes(c));
}

/** Capability names of a /proc/<pid>/status mask (CapBnd, CapEff...). */
export function capabilitiesFromMask(mask: bigint): string[] {
  return ALL_CAPABILITIES.filter((_c, i) => ((mask >> BigInt(i)) & 1n) === 1n);
}

function resolveWanted(options: { privileged?: boolean; capAdd?: string[]; capDrop?: string[] }): string[] {
  if (options.privileged) return [...ALL_CAPABILITIES];
  const add = (options.capAdd ?? []).map(normalize);
  const drop = (options.capDrop ?? []).map(normalize);
  let caps = new Set<string>(DEFAULT_CAPABILITIES);
  if (drop.includes('ALL')) caps = new Set();
  else for (const c of drop) caps.delete(c);
  if (add.includes('ALL')) for (const c of ALL_CAPABILITIES) caps.add(c);
  else for (const c of add) caps.add(c);
  if (!drop.includes('ALL') && add.includes('ALL')) for (const c of drop) caps.delete(c);
  return ALL_CAPABILITIES.filter((c) => caps.has(c));
}
