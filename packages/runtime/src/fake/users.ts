import { InvalidArgumentError } from '@berth/image-format';
import type { UserSpec } from '../spec.js';

export interface FakeUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

/** busybox's /etc/passwd as the conformance rootfs has it (root, daemon, nobody). */
export const DEFAULT_USERS: FakeUser[] = [
  { name: 'root', uid: 0, gid: 0, home: '/root' },
  { name: 'daemon', uid: 1, gid: 1, home: '/usr/sbin' },
  { name: 'nobody', uid: 65534, gid: 65534, home: '/nonexistent' },
];

/** `name`, `uid`, `uid:gid`, `name:group`, `uid:group`, or resolved ids, as a driver resolves them from /etc/passwd and /etc/group. */
export function resolveUser(user: UserSpec | undefined, users: FakeUser[]): FakeUser {
  if (user === undefined || user === '') return users.find((u) => u.uid === 0) ?? { name: 'root', uid: 0, gid: 0, home: '/root' };
  if (typeof user !== 'string') return users.find((u) => u.uid === user.uid) ?? { name: String(user.uid), uid: user.uid, gid: user.gid, home: '/' };
  const [who = '', group] = user.split(':');
  const byName = users.find((u) => u.name === who);
  const base = byName ?? (/^\d+$/.test(who) ? users.find((u) => u.uid === Number(who)) ?? { name: who, uid: Number(who), gid: Number(who), home: '/' } : undefined);
  if (!base) throw new InvalidArgumentError(`unable to find user ${who}: no matching entries in passwd file`);
  if (group === undefined) return base;
  const gid = /^\d+$/.test(group) ? Number(group) : users.find((u) => u.name === group)?.gid;
  if (gid === undefined) throw new InvalidArgumentError(`unable to find group ${group}: no matching entries in group file`);
  return { ...base, gid };
}

/** Image env, then the container's (same keys replaced), with PATH and HOME when missing. */
export function mergeEnv(image: string[] = [], own: string[] = [], home: string): string[] {
  const out = new Map<string, string>();
  for (const e of [...image, ...own]) {
    const eq = e.indexOf('=');
    out.set(eq < 0 ? e : e.slice(0, eq), e);
  }
  if (!out.has('PATH')) out.set('PATH', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
  if (!out.has('HOME')) out.set('HOME', `HOME=${home}`);
  return [...out.values()];
}
