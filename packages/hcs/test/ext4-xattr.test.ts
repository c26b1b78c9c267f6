/*
 * Xattrs and POSIX ACLs in the ext4 written from a layer's tar: what the inode cannot hold
 * goes to an xattr block (identical ones shared, refcounts capped as the kernel caps
 * them), ACLs in ext4's form. Read back three ways: e2fsck -fn (hashes, refcounts,
 * i_blocks), debugfs, and the kernel's own ext4 through a read-only loop mount
 * (getfattr, getfacl). What ext4 cannot hold, or the kernel would refuse, is refused
 * naming the file, and no disk is left behind.
 */
import { execFileSync } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buildTar, type TestEntry } from '@berth/layer-store/testsuite';
import { describe, expect, it } from 'vitest';
import { layerVhdFromTar } from '../src/index.js';
import { debugfs, fsck, tempDirs, withKernelMount } from './ext4-support.js';

const temp = tempDirs('berth-ext4x-');

const T = { USER_OBJ: 1, USER: 2, GROUP_OBJ: 4, GROUP: 8, MASK: 0x10, OTHER: 0x20 };
const NO_ID = 0xffffffff;
/** An ACL in the Linux xattr form a tar carries (short entries' ids undefined, as the kernel gives them). */
function acl(entries: [tag: number, perm: number, id?: number][], version = 2): Buffer {
  const b = Buffer.alloc(4 + entries.length * 8);
  b.writeUInt32LE(version, 0);
  entries.forEach(([tag, perm, id = NO_ID], k) => {
    b.writeUInt16LE(tag, 4 + k * 8);
    b.writeUInt16LE(perm, 6 + k * 8);
    b.writeUInt32LE(id, 8 + k * 8);
  });
  return b;
}
/** As debugfs gives an ACL back: e2fsprogs writes 0, not -1, as the id of short entries. */
const withZeroIds = (a: Buffer): Buffer => {
  const b = Buffer.from(a);
  for (let o = 4; o < b.length; o += 8) if (b.readUInt32LE(o + 4) === NO_ID) b.writeUInt32LE(0, o + 4);
  return b;
};

const ACCESS = 'system.posix_acl_access';
const DEFAULT = 'system.posix_acl_default';
const fileAcl = acl([[T.USER_OBJ, 6], [T.USER, 4, 1000], [T.GROUP_OBJ, 4], [T.GROUP, 6, 2000], [T.MASK, 6], [T.OTHER, 0]]);
const dirAcl = acl([[T.USER_OBJ, 7], [T.USER, 7, 1001], [T.GROUP_OBJ, 5], [T.MASK, 7], [T.OTHER, 0]]);
const dirDefault = acl([[T.USER_OBJ, 7], [T.USER, 5, 1002], [T.USER, 7, 1003], [T.GROUP_OBJ, 5], [T.GROUP, 5, 3000], [T.MASK, 7], [T.OTHER, 5]]);
const minimalAcl = acl([[T.USER_OBJ, 6], [T.GROUP_OBJ, 4], [T.OTHER, 4]]);
const pattern = (n: number, seed: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff));
const big = pattern(3000, 7);
const shared = pattern(1500, 11);
const many: [string, Buffer][] = Array.from({ length: 60 }, (_, k) => [`user.name-${String(k).padStart(2, '0')}`, Buffer.from(`value ${k} `.repeat((k % 5) + 1))]);
const CAP = Buffer.from('0100000200040000000000000000000000000000', 'hex');

async function toVhd(entries: TestEntry[], name = 'layer.vhd'): Promise<string> {
  const vhd = join(await temp(), name);
  await layerVhdFromTar(Readable.from([buildTar(entries)]), vhd);
  return vhd;
}

/** The raw bytes of one xattr as debugfs reads it (ACLs in the xattr form again). */
async function eaGet(img: string, path: string, name: string): Promise<Buffer> {
  const out = `${img}.ea`;
  debugfs(img, `ea_get -f ${out} ${path} ${name}`);
  return readFile(out);
}
const getfattr = (path: string, name: string): Buffer => execFileSync('getfattr', ['-h', '--only-values', '--absolute-names', '-n', name, path]);
const names = (path: string): string[] =>
  execFileSync('getfattr', ['-h', '--absolute-names', '-m', '-', path], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .sort();

describe('ext4 xattrs past the inode, and POSIX ACLs', () => {
  it('writes large values, many names and ACLs that e2fsck, debugfs and the kernel read back as the tar had them', async () => {
    const vhd = await toVhd([
      { name: 'big', content: 'b', xattrs: [['user.big', big], ['security.capability', CAP]] },
      { name: 'many', content: 'm', xattrs: many },
      { name: 'odd', content: 'o', xattrs: [['user.naïve-ünïcode', Buffer.from('x')], ['user.empty', Buffer.alloc(0)], ['trusted.t', pattern(200, 3)]] },
      { name: 'acl-file', content: 'a', mode: 0o660, xattrs: [[ACCESS, fileAcl]] },
      { name: 'minimal', content: 'm', mode: 0o644, xattrs: [[ACCESS, minimalAcl]] },
      { name: 'acl-dir/', type: 'dir', mode: 0o770, xattrs: [[ACCESS, dirAcl], [DEFAULT, dirDefault], ['user.big', big]] },
      { name: 'acl-dir/fifo', type: 'fifo', mode: 0o640, xattrs: [['trusted.f', shared], ['user.f', Buffer.from('hidden by Linux')], [ACCESS, fileAcl]] },
      { name: 'link', type: 'symlink', linkname: 'big', xattrs: [['trusted.link', pattern(300, 5)]] },
    ]);
    const img = await fsck(vhd);

    expect(await eaGet(img, '/big', 'user.big')).toEqual(big);
    expect(await eaGet(img, '/big', 'security.capability')).toEqual(CAP);
    expect(debugfs(img, 'stat /big')).toMatch(/File ACL: [1-9]\d*/); // the xattr block
    const listed = debugfs(img, 'ea_list /many');
    for (const [n, v] of many) expect(listed).toContain(`${n} (${v.length})`);
    for (const k of [0, 44, 59]) expect(await eaGet(img, '/many', many[k]![0])).toEqual(many[k]![1]);
    expect(await eaGet(img, '/odd', 'user.naïve-ünïcode')).toEqual(Buffer.from('x'));
    expect(await eaGet(img, '/odd', 'trusted.t')).toEqual(pattern(200, 3));
    expect(debugfs(img, 'ea_list /odd')).toContain('user.empty (0)');
    expect(await eaGet(img, '/acl-file', ACCESS)).toEqual(withZeroIds(fileAcl));
    expect(await eaGet(img, '/acl-dir', ACCESS)).toEqual(withZeroIds(dirAcl));
    expect(await eaGet(img, '/acl-dir', DEFAULT)).toEqual(withZeroIds(dirDefault));
    expect(await eaGet(img, '/acl-dir', 'user.big')).toEqual(big);
    expect(await eaGet(img, '/link', 'trusted.link')).toEqual(pattern(300, 5));
    expect(debugfs(img, 'ea_list /acl-dir/fifo')).not.toContain('user.f'); // Linux keeps no user.* on a FIFO
    // on disk, ext4's own form: version 1, short entries for the owner, group, mask and other
    const raw = `${img}.raw`;
    debugfs(img, `ea_get -r -f ${raw} /acl-file ${ACCESS}`);
    expect((await readFile(raw)).toString('hex')).toBe(['01000000', '01000600', '02000400e8030000', '04000400', '08000600d0070000', '10000600', '20000000'].join(''));

    await withKernelMount(img, (root) => {
      expect(getfattr(join(root, 'big'), 'user.big')).toEqual(big);
      expect(getfattr(join(root, 'big'), 'security.capability')).toEqual(CAP);
      for (const [n, v] of many) expect(getfattr(join(root, 'many'), n)).toEqual(v);
      expect(names(join(root, 'many'))).toEqual(many.map(([n]) => n).sort());
      expect(names(join(root, 'odd'))).toEqual(['trusted.t', 'user.empty', 'user.naïve-ünïcode']);
      expect(getfattr(join(root, 'odd'), 'trusted.t')).toEqual(pattern(200, 3));
      expect(getfattr(join(root, 'acl-dir/fifo'), 'trusted.f')).toEqual(shared);
      expect(names(join(root, 'acl-dir/fifo'))).toEqual([ACCESS, 'trusted.f']);
      expect(getfattr(join(root, 'link'), 'trusted.link')).toEqual(pattern(300, 5));
      // the kernel gives the ACLs back byte for byte as the tar carried them
      expect(getfattr(join(root, 'acl-file'), ACCESS)).toEqual(fileAcl);
      expect(getfattr(join(root, 'minimal'), ACCESS)).toEqual(minimalAcl);
      expect(getfattr(join(root, 'acl-dir'), ACCESS)).toEqual(dirAcl);
      expect(getfattr(join(root, 'acl-dir'), DEFAULT)).toEqual(dirDefault);
      expect(names(join(root, 'acl-dir'))).toEqual([ACCESS, DEFAULT, 'user.big']);
      const facl = (p: string) => execFileSync('getfacl', ['-cn', '--absolute-names', join(root, p)], { encoding: 'utf8' }).trim().split('\n');
      expect(facl('acl-file')).toEqual(['user::rw-', 'user:1000:r--', 'group::r--', 'group:2000:rw-', 'mask::rw-', 'other::---']);
      expect(facl('acl-dir')).toEqual([
        'user::rwx',
        'user:1001:rwx',
        'group::r-x',
        'mask::rwx',
        'other::---',
        'default:user::rwx',
        'default:user:1002:r-x',
        'default:user:1003:rwx',
        'default:group::r-x',
        'default:group:3000:r-x',
        'default:mask::rwx',
        'default:other::r-x',
      ]);
      expect(execFileSync('stat', ['-c', '%a', join(root, 'acl-file')], { encoding: 'utf8' }).trim()).toBe('660');
    });
  });

  it('an access ACL agrees with the entry\'s mode, as after an extraction (chmod rewrites owner, mask and other)', async () => {
    const vhd = await toVhd([
      { name: 'masked', content: 'x', mode: 0o640, xattrs: [[ACCESS, acl([[T.USER_OBJ, 7], [T.USER, 7, 1000], [T.GROUP_OBJ, 7], [T.MASK, 7], [T.OTHER, 7]])]] },
      { name: 'plain', content: 'x', mode: 0o751, xattrs: [[ACCESS, acl([[T.USER_OBJ, 0], [T.GROUP_OBJ, 0], [T.OTHER, 0]])]] },
    ]);
    await withKernelMount(await fsck(vhd), (root) => {
      const facl = (p: string) => execFileSync('getfacl', ['-cn', '--absolute-names', join(root, p)], { encoding: 'utf8' }).trim().split('\n');
      // the named entry keeps its rwx; the mask limits it (getfacl says so)
      expect(facl('masked')).toEqual(['user::rw-', 'user:1000:rwx\t#effective:r--', 'group::rwx\t#effective:r--', 'mask::r--', 'other::---']);
      expect(facl('plain')).toEqual(['user::rwx', 'group::r-x', 'other::--x']);
    });
  });

  it('shares identical xattr blocks with a refcount, a new block past the kernel\'s 1024', async () => {
    const entries: TestEntry[] = Array.from({ length: 1030 }, (_, k) => ({ name: `f${k}`, content: '', xattrs: [['user.same', shared] as [string, Buffer]] }));
    entries.push({ name: 'other', content: '', xattrs: [['user.same', pattern(1500, 12)]] });
    const img = await fsck(await toVhd(entries));
    const block = (p: string) => /File ACL: (\d+)/.exec(debugfs(img, `stat ${p}`))![1];
    expect(block('/f1')).toBe(block('/f0'));
    expect(block('/f1023')).toBe(block('/f0'));
    expect(block('/f1024')).not.toBe(block('/f0'));
    expect(block('/f1029')).toBe(block('/f1024'));
    expect(block('/other')).not.toBe(block('/f0'));
    expect(await eaGet(img, '/f1029', 'user.same')).toEqual(shared);
    await withKernelMount(img, (root) => {
      expect(getfattr(join(root, 'f0'), 'user.same')).toEqual(shared);
      expect(getfattr(join(root, 'f1029'), 'user.same')).toEqual(shared);
      expect(getfattr(join(root, 'other'), 'user.same')).toEqual(pattern(1500, 12));
    });
  }, 60_000);

  it('refuses what ext4 cannot hold or the kernel would refuse, naming the file, and leaves no disk behind', async () => {
    const d = await temp();
    const cases: [string, TestEntry, RegExp][] = [
      ['too much', { name: 'usr/too-much', content: 'x', xattrs: [['user.a', Buffer.alloc(3000)], ['user.b', Buffer.alloc(1100)]] }, /usr\/too-much: its extended attributes need \d+ bytes .* 4060 in one 4 KiB xattr block/],
      ['ACL version', { name: 'v1', content: 'x', xattrs: [[ACCESS, acl([[T.USER_OBJ, 6], [T.GROUP_OBJ, 4], [T.OTHER, 4]], 1)]] }, /v1: system.posix_acl_access is not a valid POSIX ACL: version 1/],
      ['truncated ACL', { name: 'cut', content: 'x', xattrs: [[ACCESS, minimalAcl.subarray(0, 23)]] }, /cut: .*not a whole number of 8-byte entries/],
      ['too short', { name: 'short', content: 'x', xattrs: [[ACCESS, Buffer.from([2, 0])]] }, /short: .*shorter than its header/],
      ['permission bits', { name: 'perm', content: 'x', xattrs: [[ACCESS, acl([[T.USER_OBJ, 6], [T.GROUP_OBJ, 0x14], [T.OTHER, 4]])]] }, /perm: .*permission bits 0x14/],
      ['no mask', { name: 'nomask', content: 'x', xattrs: [[ACCESS, acl([[T.USER_OBJ, 6], [T.USER, 6, 5], [T.GROUP_OBJ, 4], [T.OTHER, 4]])]] }, /nomask: .*without the mask/],
      ['order', { name: 'order', content: 'x', xattrs: [[ACCESS, acl([[T.GROUP_OBJ, 4], [T.USER_OBJ, 6], [T.OTHER, 4]])]] }, /order: .*entry 0 \(tag 0x4\) is out of order/],
      ['unknown tag', { name: 'tag', content: 'x', xattrs: [[ACCESS, acl([[T.USER_OBJ, 6], [0x40, 4], [T.OTHER, 4]])]] }, /tag: .*is no ACL tag/],
      ['no other', { name: 'noother', content: 'x', xattrs: [[ACCESS, acl([[T.USER_OBJ, 6], [T.GROUP_OBJ, 4]])]] }, /noother: .*lacks/],
      ['named without id', { name: 'noid', content: 'x', xattrs: [[ACCESS, acl([[T.USER_OBJ, 6], [T.USER, 6], [T.GROUP_OBJ, 4], [T.MASK, 6], [T.OTHER, 4]])]] }, /noid: .*names no id/],
      ['default on a file', { name: 'etc/file', content: 'x', xattrs: [[DEFAULT, minimalAcl]] }, /etc\/file: .*only a directory has a default ACL/],
    ];
    for (const [what, entry, message] of cases) {
      const vhd = join(d, 'refused.vhd');
      await expect(layerVhdFromTar(Readable.from([buildTar([{ name: 'ok', content: 'fine' }, entry])]), vhd), what).rejects.toThrow(message);
      await expect(stat(vhd), what).rejects.toMatchObject({ code: 'ENOENT' });
    }
    // an ACL with no entries removes the ACL (as setxattr of one does); on a symlink, Linux keeps none: dropped
    const img = await fsck(await toVhd([
      { name: 'none', content: 'x', xattrs: [[ACCESS, acl([])]] },
      { name: 'link', type: 'symlink', linkname: 'none', xattrs: [[ACCESS, minimalAcl]] },
    ]));
    expect(debugfs(img, 'ea_list /none')).not.toContain('posix_acl');
    expect(debugfs(img, 'ea_list /link')).not.toContain('posix_acl');
  });
});
