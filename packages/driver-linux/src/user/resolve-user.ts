import { readFile } from 'node:fs/promises';
import { InvalidArgumentError, NotFoundError } from '@berth/image-format';
import type { ResolvedUser, UserSpec } from '@berth/runtime';
import { resolveInRoot } from '@berth/layer-store';

export interface ContainerUser extends ResolvedUser {
  additionalGids: number[];
  /** From /etc/passwd; `/` when the user is unknown there (like Docker). */
  home: string;
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

const MAX_ID = 2 ** 31 - 1;

async function readRootFile(root: string, path: string): Promise<string> {
  try {
    return await readFile(await resolveInRoot(root, path), 'utf8');
  } catch {
    return '';
  }
}

function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 7 || line.startsWith('#')) continue;
    const uid = Number(f[2]);
    const gid = Number(f[3]);
    if (!Number.isInteger(uid) || !Number.isInteger(gid)) continue;
    out.push({ name: f[0] as string, uid, gid, home: f[5] as string });
  }
  return out;
}

function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 4 || line.startsWith('#')) continue;
    const gid = Number(f[2]);
    if (!Number.isInteger(gid)) continue;
    out.push({ name: f[0] as string, gid, members: (f[3] as string).split(',').filter((m) => m !== '') });
  }
  return out;
}

function numeric(s: string): number | undefined {
  if (!/^\d+$/.test(s)) return undefined;
  const n = Number(s);
  if (n > MAX_ID) throw new InvalidArgumentError(`id ${s} out of range`);
  return n;
}

/**
 * Resolves `user` (name, uid, uid:gid, name:group, uid:group, or resolved ids) against
 * the rootfs' /etc/passwd and /etc/group, read without following symlinks out of the
 * rootfs. Supplementary groups are the groups that list the user by name, plus
 * `groupAdd` (Docker's --group-add: gids, or names from /etc/group). An unknown
 * name fails with NotFoundError; an unknown numeric uid runs with gid = the given gid
 * or 0 and home `/`.
 */
export async function resolveUser(root: string | undefined, user: UserSpec | undefined, groupAdd: string[] = []): Promise<ContainerUser> {
  // /etc/group is read once, and only when something needs it
  let groupFile: Promise<GroupEntry[]> | undefined;
  const groupsOf = (): Promise<GroupEntry[]> => (groupFile ??= root ? readRootFile(root, '/etc/group').then(parseGroup) : Promise.resolve([]));
  const resolved = await resolveUserOnly(root, user, groupsOf);
  if (groupAdd.length === 0) return resolved;
  const groups = await groupsOf();
  return { ...resolved, additionalGids: [...new Set([...resolved.additionalGids, ...groupAdd.map((g) => groupId(groups, g))])] };
}

async function resolveUserOnly(root: string | undefined, user: UserSpec | undefined, groupsOf: () => Promise<GroupEntry[]>): Promise<ContainerUser> {
  if (user !== undefined && typeof user !== 'string') {
    return { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids ?? [], home: '/' };
  }
  const spec = user === undefined || user === '' ? '0' : user;
  const [userPart, groupPart] = spec.split(':', 2) as [string, string | undefined];
  const passwd = root ? parsePasswd(await readRootFile(root, '/etc/passwd')) : [];
  const groups = await groupsOf();

  let entry: PasswdEntry | undefined;
  const uidNum = numeric(userPart);
  if (uidNum !== undefined) entry = passwd.find((p) => p.uid === uidNum);
  else {
    entry = passwd.find((p) => p.name === userPart);
    if (!entry) throw new NotFoundError(`unable to find user ${userPart}: no matching entries in passwd file`);
  }
  const uid = uidNum ?? (entry as PasswdEntry).uid;
  let gid = entry?.gid ?? 0;
  if (groupPart !== undefined && groupPart !== '') {
    const gidNum = numeric(groupPart);
    if (gidNum !== undefined) gid = gidNum;
    else {
      const g = groups.find((x) => x.name === groupPart);
      if (!g) throw new NotFoundError(`unable to find group ${groupPart}: no matching entries in group file`);
      gid = g.gid;
    }
  }
  const additional = entry
    ? groups.filter((g) => g.members.includes(entry.name) && g.gid !== gid).map((g) => g.gid)
    : [];
  return { uid, gid, additionalGids: [...new Set(additional)], home: entry?.home || '/' };
}

/** Docker's --group-add entry: a gid as given, a name looked up in the rootfs' /etc/group. */
function groupId(groups: GroupEntry[], name: string): number {
  const n = numeric(name);
  if (n !== undefined) return n;
  const g = groups.find((x) => x.name === name);
  if (!g) throw new NotFoundError(`unable to find group ${name}: no matching entries in group file`);
  return g.gid;
}
