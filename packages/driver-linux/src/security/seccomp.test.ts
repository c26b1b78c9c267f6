import { describe, expect, it } from 'vitest';
import { DEFAULT_CAPABILITIES } from './capabilities.js';
import { defaultSeccompProfile, toOciSeccomp } from './seccomp.js';

function allowed(profile: ReturnType<typeof defaultSeccompProfile>, name: string): 'always' | 'conditional' | 'no' {
  const rules = profile.syscalls.filter((r) => r.names.includes(name) && r.action === 'SCMP_ACT_ALLOW');
  if (rules.some((r) => !r.args)) return 'always';
  return rules.length > 0 ? 'conditional' : 'no';
}

describe('default seccomp profile', () => {
  const p = defaultSeccompProfile(DEFAULT_CAPABILITIES, 'x64');
  it('denies by default with EPERM on x86_64 and its compat arches', () => {
    expect(p.defaultAction).toBe('SCMP_ACT_ERRNO');
    expect(p.defaultErrnoRet).toBe(1);
    expect(p.architectures).toEqual(['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
  });
  it('allows the ordinary syscalls', () => {
    for (const n of ['read', 'write', 'openat', 'execve', 'mmap', 'futex', 'chroot', 'arch_prctl']) expect(allowed(p, n)).toBe('always');
    expect(allowed(p, 'socket')).toBe('conditional');
  });
  it('blocks keyrings, kexec, mount, unshare, setns, ptrace, bpf, perf', () => {
    for (const n of ['keyctl', 'add_key', 'request_key', 'kexec_load', 'mount', 'umount2', 'unshare', 'setns', 'ptrace', 'bpf', 'perf_event_open', 'reboot', 'init_module']) {
      expect(allowed(p, n)).toBe('no');
    }
  });
  it('allows clone only without namespace flags and answers clone3 with ENOSYS', () => {
    const clone = p.syscalls.find((r) => r.names.includes('clone'));
    expect(clone?.args?.[0]).toMatchObject({ index: 0, value: 0x7e020000, op: 'SCMP_CMP_MASKED_EQ' });
    expect(p.syscalls.find((r) => r.names.includes('clone3'))).toMatchObject({ action: 'SCMP_ACT_ERRNO', errnoRet: 38 });
  });
  it('unlocks syscalls with their capability', () => {
    const admin = defaultSeccompProfile([...DEFAULT_CAPABILITIES, 'CAP_SYS_ADMIN', 'CAP_SYS_PTRACE'], 'x64');
    for (const n of ['mount', 'unshare', 'setns', 'clone', 'ptrace']) expect(allowed(admin, n)).toBe('always');
    expect(admin.syscalls.some((r) => r.names.includes('clone3') && r.action === 'SCMP_ACT_ERRNO')).toBe(false);
  });
});

describe('toOciSeccomp', () => {
  it('reduces a Docker-format profile to this arch and cap set', () => {
    const docker = {
      defaultAction: 'SCMP_ACT_ERRNO',
      archMap: [{ architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86'] }],
      syscalls: [
        { names: ['read'], action: 'SCMP_ACT_ALLOW' },
        { names: ['mount'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_ADMIN'] } },
        { names: ['arm_only'], action: 'SCMP_ACT_ALLOW', includes: { arches: ['arm64'] } },
        { names: ['not_admin'], action: 'SCMP_ACT_ALLOW', excludes: { caps: ['CAP_SYS_ADMIN'] } },
      ],
    };
    const oci = toOciSeccomp(docker, ['CAP_CHOWN'], 'x64');
    expect(oci.architectures).toEqual(['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86']);
    expect(oci.syscalls.map((r) => r.names[0])).toEqual(['read', 'not_admin']);
  });
  it('rejects a profile without defaultAction', () => {
    expect(() => toOciSeccomp({}, [], 'x64')).toThrow();
  });
});
