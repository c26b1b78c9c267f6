/**
 * Syscall numbers the Perl programs (the runtime wrapper, the spawn helper) call directly
 * (perl-base has no unshare or mount); only where known.
 */
export const MOUNT_SYSCALLS: Partial<Record<NodeJS.Architecture, { unshare: number; mount: number; umount2: number }>> = {
  x64: { unshare: 272, mount: 165, umount2: 166 },
  arm64: { unshare: 97, mount: 40, umount2: 39 },
};

/** What the spawn helper's pause mode (pause-helper.ts) calls besides those. */
export const PAUSE_SYSCALLS: Partial<Record<NodeJS.Architecture, Record<'unshare' | 'mount' | 'umount2' | 'setns' | 'pivot_root' | 'sethostname' | 'prctl', number>>> = {
  x64: { ...MOUNT_SYSCALLS.x64!, setns: 308, pivot_root: 155, sethostname: 170, prctl: 157 },
  arm64: { ...MOUNT_SYSCALLS.arm64!, setns: 268, pivot_root: 41, sethostname: 161, prctl: 167 },
};
