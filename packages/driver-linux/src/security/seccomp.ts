import { arch } from 'node:os';
import { ALLOWED_SYSCALLS } from './syscalls.js';

interface OciSeccompArg {
  index: number;
  value: number;
  valueTwo?: number;
  op: string;
}

interface OciSeccompRule {
  names: string[];
  action: string;
  errnoRet?: number;
  args?: OciSeccompArg[];
}

export interface OciSeccomp {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures: string[];
  syscalls: OciSeccompRule[];
}

const EPERM = 1;
const ENOSYS = 38;
/** CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET: new namespaces need CAP_SYS_ADMIN. */
const CLONE_NAMESPACE_FLAGS = 0x7e020000;

/** Syscalls a capability unlocks (the capability alone would be useless without them). */
const BY_CAPABILITY: Record<string, string[]> = {
  CAP_SYS_ADMIN: [
    'bpf', 'clone', 'clone3', 'fanotify_init', 'fsconfig', 'fsmount', 'fsopen', 'fspick',
    'lookup_dcookie', 'mount', 'mount_setattr', 'move_mount', 'open_tree',
    'perf_event_open', 'quotactl', 'quotactl_fd', 'setdomainname', 'sethostname', 'setns',
    'syslog', 'umount', 'umount2', 'unshare',
  ],
  CAP_SYS_BOOT: ['reboot'],
  CAP_SYS_CHROOT: ['chroot'],
  CAP_SYS_MODULE: ['delete_module', 'init_module', 'finit_module'],
  CAP_SYS_PACCT: ['acct'],
  CAP_SYS_PTRACE: ['kcmp', 'pidfd_getfd', 'process_madvise', 'process_vm_readv', 'process_vm_writev', 'ptrace'],
  CAP_SYS_RAWIO: ['iopl', 'ioperm'],
  CAP_SYS_TIME: ['settimeofday', 'stime', 'clock_settime', 'clock_settime64'],
  CAP_SYS_TTY_CONFIG: ['vhangup'],
  CAP_SYS_NICE: ['get_mempolicy', 'mbind', 'set_mempolicy'],
  CAP_SYSLOG: ['syslog'],
  CAP_DAC_READ_SEARCH: ['open_by_handle_at'],
  CAP_BPF: ['bpf'],
  CAP_PERFMON: ['perf_event_open'],
};

const ARCHES: Record<string, { architectures: string[]; syscalls: string[] }> = {
  x64: { architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'], syscalls: ['arch_prctl', 'modify_ldt'] },
  arm64: {
    architectures: ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM'],
    syscalls: ['arm_fadvise64_64', 'arm_sync_file_range', 'breakpoint', 'cacheflush', 'set_tls'],
  },
};

/** personality(2) values Docker allows: Linux, UNAME26, 32-bit and query. */
const PERSONALITIES = [0x0, 0x8, 0x20000, 0x20008, 0xffffffff];

/**
 * Berth's default profile for a container holding `capabilities`: default action
 * EPERM; the common syscall set allowed; clone only without namespace flags and
 * clone3 answered with ENOSYS (so libc falls back to clone) unless CAP_SYS_ADMIN;
 * keyctl/add_key/request_key, kexec, mount, unshare, setns, ptrace, bpf and friends
 * denied unless the capability that governs them is held.
 */
export function defaultSeccompProfile(capabilities: readonly string[], hostArch: string = arch()): OciSeccomp {
  const archInfo = ARCHES[hostArch] ?? { architectures: [], syscalls: [] };
  const rules: OciSeccompRule[] = [
    { names: [...ALLOWED_SYSCALLS, ...archInfo.syscalls], action: 'SCMP_ACT_ALLOW' },
    // every socket family but AF_VSOCK (40), which reaches the host's hypervisor
    { names: ['socket'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 40, op: 'SCMP_CMP_NE' }] },
    ...PERSONALITIES.map((value) => ({
      names: ['personality'],
      action: 'SCMP_ACT_ALLOW',
      args: [{ index: 0, value, op: 'SCMP_CMP_EQ' }],
    })),
  ];
  const unlocked = new Set<string>();
  for (const cap of capabilities) for (const name of BY_CAPABILITY[cap] ?? []) unlocked.add(name);
  if (unlocked.size > 0) rules.push({ names: [...unlocked].sort(), action: 'SCMP_ACT_ALLOW' });
  if (!capabilities.includes('CAP_SYS_ADMIN')) {
    rules.push({
      names: ['clone'],
      action: 'SCMP_ACT_ALLOW',
      args: [{ index: hostArch === 's390x' ? 1 : 0, value: CLONE_NAMESPACE_FLAGS, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }],
    });
    rules.push({ names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS });
  }
  return { defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: EPERM, architectures: archInfo.architectures, syscalls: rules };
}

interface DockerSeccompRule extends OciSeccompRule {
  includes?: { caps?: string[]; arches?: string[] };
  excludes?: { caps?: string[]; arches?: string[] };
}

const NODE_TO_DOCKER_ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', ia32: 'x86', arm: 'arm', s390x: 's390x', ppc64: 'ppc64le' };

/**
 * A user-supplied profile in Docker's format (archMap, includes/excludes by caps and
 * arch) or already in OCI form, reduced to the OCI form for this host and cap set.
 */
export function toOciSeccomp(profile: unknown, capabilities: readonly string[], hostArch: string = arch()): OciSeccomp {
  const p = profile as {
    defaultAction?: string;
    defaultErrnoRet?: number;
    architectures?: string[];
    archMap?: { architecture: string; subArchitectures?: string[] }[];
    syscalls?: DockerSeccompRule[];
  };
  if (typeof p !== 'object' || p === null || typeof p.defaultAction !== 'string') {
    throw new TypeError('seccomp profile needs a defaultAction');
  }
  const dockerArch = NODE_TO_DOCKER_ARCH[hostArch] ?? hostArch;
  let architectures = p.architectures ?? [];
  if (p.archMap) {
    const native = ARCHES[hostArch]?.architectures[0];
    const entry = p.archMap.find((a) => a.architecture === native);
    architectures = entry ? [entry.architecture, ...(entry.subArchitectures ?? [])] : [];
  }
  const has = (caps?: string[]) => (caps ?? []).every((c) => capabilities.includes(c));
  const syscalls = (p.syscalls ?? [])
    .filter((r) => {
      if (r.includes?.caps && !has(r.includes.caps)) return false;
      if (r.includes?.arches && !r.includes.arches.includes(dockerArch)) return false;
      if (r.excludes?.caps && r.excludes.caps.some((c) => capabilities.includes(c))) return false;
      if (r.excludes?.arches?.includes(dockerArch)) return false;
      return true;
    })
    .map((r) => {
      const rule: OciSeccompRule = { names: r.names, action: r.action };
      if (r.errnoRet !== undefined) rule.errnoRet = r.errnoRet;
      if (r.args && r.args.length > 0) rule.args = r.args;
      return rule;
    });
  const out: OciSeccomp = { defaultAction: p.defaultAction, architectures, syscalls };
  if (p.defaultErrnoRet !== undefined) out.defaultErrnoRet = p.defaultErrnoRet;
  return out;
}
