/**
 * Syscall numbers the Perl programs (the runtime wrapper, the spawn helper) call directly
 * (perl-base has no unshare or mount); only where known.
 */
export const MOUNT_SYSCALLS: Partial<Record<NodeJS.Architecture, { unshare: number; mount: number; umount2: number }>> = {
  x64: { unshare: 272, mount: 165, umount2: 166 },
  arm64: { unshare: 97, mount: 40, umount2: 39 },
};
