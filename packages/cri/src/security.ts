import { readFile } from 'node:fs/promises';
import { InvalidArgumentError } from '@berth/image-format';
import type { HostConfig } from '@berth/engine';

const RUNTIME_DEFAULT = 0;
const UNCONFINED = 1;
const LOCALHOST = 2;

/**
 * A container's LinuxContainerSecurityContext as Docker HostConfig fields. Seccomp: an
 * absent profile is unconfined (CRI's rule: kubelet asks for RuntimeDefault explicitly),
 * `Localhost` loads the profile from the host path, privileged containers run unconfined.
 * SELinux and AppArmor options are accepted and have nothing to apply to on a host
 * without them.
 */
export async function securityOptions(sc: any): Promise<HostConfig> {
  const caps = sc.capabilities ?? {};
  const opts: string[] = [];
  if (sc.no_new_privs) opts.push('no-new-privileges');
  const seccomp = sc.privileged ? 'unconfined' : await seccompOpt(sc);
  if (seccomp) opts.push(`seccomp=${seccomp}`);
  return {
    Privileged: !!sc.privileged,
    CapAdd: (caps.add_capabilities ?? []).map(capName),
    CapDrop: (caps.drop_capabilities ?? []).map(capName),
    ReadonlyRootfs: !!sc.readonly_rootfs,
    GroupAdd: (sc.supplemental_groups ?? []).map(String),
    SecurityOpt: opts,
    ...(!sc.privileged && sc.masked_paths?.length ? { MaskedPaths: sc.masked_paths } : {}),
    ...(!sc.privileged && sc.readonly_paths?.length ? { ReadonlyPaths: sc.readonly_paths } : {}),
  };
}

const capName = (c: string): string => (c.toUpperCase() === 'ALL' ? 'ALL' : c.toUpperCase().replace(/^CAP_/, ''));

/** `unconfined`, the profile's JSON, or undefined for the runtime's default. */
async function seccompOpt(sc: any): Promise<string | undefined> {
  if (sc.seccomp) {
    const t = sc.seccomp.profile_type ?? RUNTIME_DEFAULT;
    if (t === RUNTIME_DEFAULT) return undefined;
    if (t === UNCONFINED) return 'unconfined';
    if (t === LOCALHOST) return loadProfile(sc.seccomp.localhost_ref ?? '');
  }
  const path: string = sc.seccomp_profile_path ?? '';
  if (path === '' || path === 'unconfined') return 'unconfined';
  if (path === 'runtime/default' || path === 'docker/default') return undefined;
  if (path.startsWith('localhost/')) return loadProfile(path.slice('localhost/'.length));
  throw new InvalidArgumentError(`failed to generate seccomp spec opts: seccomp profile ${JSON.stringify(path)} is not supported: use runtime/default, unconfined or localhost/<path>`);
}

async function loadProfile(path: string): Promise<string> {
  if (!path.startsWith('/')) throw new InvalidArgumentError(`seccomp profile path ${JSON.stringify(path)} must be absolute`);
  const text = await readFile(path, 'utf8').catch((err: Error) => {
    throw new InvalidArgumentError(`failed to load seccomp profile ${path}: ${err.message}`);
  });
  try {
    return JSON.stringify(JSON.parse(text));
  } catch (err) {
    throw new InvalidArgumentError(`failed to parse seccomp profile ${path}: ${(err as Error).message}`);
  }
}
