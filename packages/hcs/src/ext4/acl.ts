/**
 * POSIX ACLs as ext4 keeps them. A tar carries an ACL as the VFS shows it
 * (`system.posix_acl_access`/`_default`: little-endian header version 2, then 8-byte
 * entries tag, perm, id); ext4 stores its own form under xattr name index 2 (access) or
 * 3 (default) with an empty name: header version 1, 4-byte short entries (tag, perm) for
 * USER_OBJ, GROUP_OBJ, MASK and OTHER, 8-byte ones with the id for USER and GROUP. The
 * input is checked by the rules the kernel applies before it stores an ACL
 * (posix_acl_from_xattr, posix_acl_valid), so the guest never meets one it would refuse.
 * An access ACL's owner, group class (the mask, or the owning group without one) and
 * other entries take the file's mode bits, as after Docker's and containerd's extraction
 * (xattrs set, then chmod, which rewrites them: posix_acl_chmod): mode and ACL agree.
 */
import { InvalidArgumentError } from '@berth/image-format';

const XATTR_VERSION = 2;
const EXT4_VERSION = 1;
const TAG = { USER_OBJ: 0x01, USER: 0x02, GROUP_OBJ: 0x04, GROUP: 0x08, MASK: 0x10, OTHER: 0x20 } as const;
const PERMS = 0o7;
const UNDEFINED_ID = 0xffffffff;

/** The xattr names of ACLs and the ext4 name index each is stored under. */
export const ACL_INDEX: Record<string, number> = { 'system.posix_acl_access': 2, 'system.posix_acl_default': 3 };

function bad(name: string, why: string): InvalidArgumentError {
  return new InvalidArgumentError(`${name} is not a valid POSIX ACL: ${why}`);
}

/**
 * The ext4 on-disk form of an ACL given in the VFS xattr form (an access ACL agreeing
 * with `mode`); undefined for an ACL with no entries (setting one removes the ACL, as the
 * kernel does).
 */
export function ext4Acl(name: string, value: Buffer, mode: number): Buffer | undefined {
  if (value.length < 4) throw bad(name, `${value.length} bytes, shorter than its header`);
  const version = value.readUInt32LE(0);
  if (version !== XATTR_VERSION) throw bad(name, `version ${version} (the Linux xattr form is version ${XATTR_VERSION})`);
  if ((value.length - 4) % 8 !== 0) throw bad(name, `${value.length - 4} bytes of entries, not a whole number of 8-byte entries`);
  const count = (value.length - 4) / 8;
  if (count === 0) return undefined;
  const access = name === 'system.posix_acl_access';
  let hasMask = false;
  for (let k = 0; k < count; k++) if (value.readUInt16LE(4 + k * 8) === TAG.MASK) hasMask = true;
  const fromMode: Partial<Record<number, number>> = access ? { [TAG.USER_OBJ]: (mode >> 6) & 7, [hasMask ? TAG.MASK : TAG.GROUP_OBJ]: (mode >> 3) & 7, [TAG.OTHER]: mode & 7 } : {};
  // the order posix_acl_valid demands: USER_OBJ, USER*, GROUP_OBJ, GROUP*, MASK (needed with named entries), OTHER
  let state: number = TAG.USER_OBJ;
  let named = false;
  const out = Buffer.alloc(4 + count * 8);
  out.writeUInt32LE(EXT4_VERSION, 0);
  let at = 4;
  for (let k = 0; k < count; k++) {
    const o = 4 + k * 8;
    const tag = value.readUInt16LE(o);
    const perm = value.readUInt16LE(o + 2);
    const id = value.readUInt32LE(o + 4);
    if (perm & ~PERMS) throw bad(name, `entry ${k} has permission bits 0x${perm.toString(16)} (only r, w, x exist)`);
    const order = (why: string) => bad(name, `entry ${k} (tag 0x${tag.toString(16)}) ${why}`);
    switch (tag) {
      case TAG.USER_OBJ:
        if (state !== TAG.USER_OBJ) throw order('is a second owner entry');
        state = TAG.USER;
        break;
      case TAG.USER:
      case TAG.GROUP:
        if (state !== (tag === TAG.USER ? TAG.USER : TAG.GROUP)) throw order('is out of order');
        if (id === UNDEFINED_ID) throw order('names no id');
        named = true;
        break;
      case TAG.GROUP_OBJ:
        if (state !== TAG.USER) throw order('is out of order');
        state = TAG.GROUP;
        break;
      case TAG.MASK:
        if (state !== TAG.GROUP) throw order('is out of order');
        state = TAG.OTHER;
        break;
      case TAG.OTHER:
        if (!(state === TAG.OTHER || (state === TAG.GROUP && !named))) throw order(named && state === TAG.GROUP ? 'comes without the mask named entries need' : 'is out of order');
        state = 0;
        break;
      default:
        throw order('is no ACL tag');
    }
    out.writeUInt16LE(tag, at);
    out.writeUInt16LE(fromMode[tag] ?? perm, at + 2);
    if (tag === TAG.USER || tag === TAG.GROUP) {
      out.writeUInt32LE(id, at + 4);
      at += 8;
    } else at += 4;
  }
  if (state !== 0) throw bad(name, 'it lacks an owner, group or other entry');
  return out.subarray(0, at);
}
