import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveInRoot } from '@berth/layer-store';
import { resolveUser } from './resolve-user.js';

let root: string;
let outside: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'berth-user-'));
  outside = await mkdtemp(join(tmpdir(), 'berth-user-out-'));
  await mkdir(join(root, 'etc'));
  await writeFile(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n# comment\n');
  await writeFile(join(root, 'etc/group'), 'root:x:0:\napp:x:1000:\nstaff:x:50:app,other\naudio:x:29:app\n');
  await writeFile(join(outside, 'passwd'), 'evil:x:0:0::/:/bin/sh\n');
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
  await rm(outside, { recursive: true, force: true });
});

describe('resolveUser', () => {
  it('resolves names, ids and groups with supplementary groups', async () => {
    expect(await resolveUser(root, 'app')).toEqual({ uid: 1000, gid: 1000, additionalGids: [50, 29], home: '/home/app' });
    expect(await resolveUser(root, '1000')).toMatchObject({ uid: 1000, gid: 1000, home: '/home/app' });
    expect(await resolveUser(root, 'app:staff')).toMatchObject({ uid: 1000, gid: 50 });
    expect(await resolveUser(root, '4242:4343')).toEqual({ uid: 4242, gid: 4343, additionalGids: [], home: '/' });
    expect(await resolveUser(root, undefined)).toMatchObject({ uid: 0, gid: 0, home: '/root' });
    expect(await resolveUser(root, { uid: 5, gid: 6, additionalGids: [7] })).toMatchObject({ uid: 5, gid: 6, additionalGids: [7] });
  });
  it('fails with NotFound for unknown names', async () => {
    await expect(resolveUser(root, 'ghost')).rejects.toMatchObject({ code: 'NotFound' });
    await expect(resolveUser(root, 'app:ghosts')).rejects.toMatchObject({ code: 'NotFound' });
  });
});

describe('resolveInRoot', () => {
  it('keeps absolute and relative symlinks inside the root', async () => {
    const r2 = await mkdtemp(join(tmpdir(), 'berth-user-links-'));
    try {
      await mkdir(join(r2, 'etc'));
      await symlink(join(outside, 'passwd'), join(r2, 'etc/passwd'));
      await symlink('../../../../..' + outside + '/passwd', join(r2, 'etc/group'));
      expect(await resolveInRoot(r2, '/etc/passwd')).toBe(join(r2, outside, 'passwd'));
      expect(await resolveInRoot(r2, '/etc/group')).toBe(join(r2, outside, 'passwd'));
      expect(await resolveInRoot(r2, '/../../etc/x')).toBe(join(r2, 'etc/x'));
      // reading through the escaping link finds nothing, so the host file is never used
      expect(await resolveUser(r2, '0')).toMatchObject({ uid: 0, home: '/' });
      await expect(resolveUser(r2, 'evil')).rejects.toMatchObject({ code: 'NotFound' });
    } finally {
      await rm(r2, { recursive: true, force: true });
    }
  });
});
