import { readFile } from 'node:fs/promises';
import { InvalidArgumentError } from '@berth/image-format';
import type { LayeredFs } from './layered-fs.js';

/**
 * `--chown=user[:group]` to numeric IDs: numbers as given, names looked up in the image's
 * /etc/passwd and /etc/group (a user alone takes its primary group).
 */
export async function resolveOwner(spec: string, fs: LayeredFs): Promise<{ uid: number; gid: number }> {
  const [user = '', group] = spec.split(':');
  const table = async (file: string): Promise<string[][]> => {
    const e = await fs.stat(file);
    if (!e || !e.stat.isFile()) return [];
    return (await readFile(e.hostPath, 'utf8')).split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split(':'));
  };
  let uid: number;
  let primary: number | undefined;
  if (/^\d+$/.test(user)) uid = Number(user);
  else {
    const row = (await table('/etc/passwd')).find((r) => r[0] === user);
    if (!row) throw new InvalidArgumentError(`unable to convert uid/gid chown string to host mapping: can't find uid for user ${user}: no such user: ${user}`);
    uid = Number(row[2]);
    primary = Number(row[3]);
  }
  let gid: number;
  if (group === undefined || group === '') gid = primary ?? uid;
  else if (/^\d+$/.test(group)) gid = Number(group);
  else {
    const row = (await table('/etc/group')).find((r) => r[0] === group);
    if (!row) throw new InvalidArgumentError(`unable to convert uid/gid chown string to host mapping: can't find gid for group ${group}: no such group: ${group}`);
    gid = Number(row[2]);
  }
  return { uid, gid };
}
