/**
 * A Linux layer's `layer.vhd` made straight from its tar, as hcsshim's tar2ext4 does: no
 * host file system in between (on Windows, NTFS would lose owners, modes, device nodes,
 * symlinks, hard links and xattrs). Entries come through layer-store's readLayerEntries,
 * so a hostile tar is refused by the same rules as the guarded extractor; file data goes
 * to the image as it arrives. Docker whiteouts become overlayfs ones (`.wh.<name>`: a
 * character device 0/0; `.wh..wh..opq`: `trusted.overlay.opaque=y` on the directory), as
 * tar2ext4's ConvertWhiteout makes them. Xattrs go as the tar's PAX records carry them,
 * POSIX ACLs (`SCHILY.xattr.system.posix_acl_*`, the Linux xattr form) turned into
 * ext4's; what ext4 cannot hold or the kernel would refuse is refused, naming the file.
 */
import { rm } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { InvalidArgumentError, type LayerCompression } from '@berth/image-format';
import { OPAQUE, readLayerEntries, WHITEOUT, whiteoutTarget, type LayerEntry, type ReadLayerResult } from '@berth/layer-store/archive';
import { Ext4Writer, type Ext4Meta } from './writer.js';

/** What Ext4Writer can hold (GDT_BLOCKS * 128 groups of 128 MiB), less room for metadata. */
const MAX_DATA = 63 * 2 ** 30;
const OPAQUE_XATTR = 'trusted.overlay.opaque';

export interface LayerVhdFromTarOptions {
  compression?: LayerCompression;
  /** Caps on the tar itself (entries, bytes, PAX headers), as the extractor takes them. */
  limits?: { maxEntries?: number; maxBytes?: number; maxPaxHeader?: number };
  /** The most file data the disk may hold (default: what the writer can address, 63 GiB). */
  maxDataBytes?: number;
}

export interface LayerVhdFromTarResult extends ReadLayerResult {
  /** The VHD's size in bytes (the ext4 volume and the footer). */
  vhdBytes: number;
}

function refuse(name: string, why: string): InvalidArgumentError {
  return new InvalidArgumentError(`refused layer entry "${name}": ${why}`);
}

/** Converts a layer tar into an ext4 VHD at `out`; on failure `out` is removed. */
export async function layerVhdFromTar(input: Readable, out: string, opts: LayerVhdFromTarOptions = {}): Promise<LayerVhdFromTarResult> {
  const w = await Ext4Writer.create(out);
  const maxData = opts.maxDataBytes ?? MAX_DATA;
  let data = 0;
  try {
    const read = await readLayerEntries(input, { compression: opts.compression ?? 'none', ...(opts.limits ? { limits: opts.limits } : {}) }, async (e) => {
      const size = e.header.size ?? 0;
      if (e.header.type === 'file' || e.header.type === 'contiguous-file' || !e.header.type) {
        data += size;
        if (data > maxData) throw refuse(e.header.name, `the layer's files are more than the ext4 disk holds (${maxData} bytes)`);
      }
      await entry(w, e);
    });
    return { ...read, vhdBytes: await w.finish() };
  } catch (err) {
    await w.abort();
    await rm(out, { force: true });
    throw err;
  }
}

function metaOf(e: LayerEntry, xattrs: Map<string, Buffer>): Ext4Meta {
  const h = e.header;
  return {
    mode: (h.mode ?? 0o644) & 0o7777,
    uid: h.uid ?? 0,
    gid: h.gid ?? 0,
    mtime: Math.floor((h.mtime?.getTime() ?? 0) / 1000),
    ...(xattrs.size > 0 ? { xattrs: Object.fromEntries(xattrs) } : {}),
  };
}

/**
 * What Linux keeps on a symlink, device or FIFO: no user.* xattrs (it refuses to set them
 * and hides them from reads; the extractor drops them from symlinks too), and on a
 * symlink no ACL either.
 */
function specialXattrs(xattrs: Map<string, Buffer>, symlink: boolean): Map<string, Buffer> {
  return new Map([...xattrs].filter(([k]) => !k.startsWith('user.') && !(symlink && k.startsWith('system.posix_acl_'))));
}

async function entry(w: Ext4Writer, e: LayerEntry): Promise<void> {
  const h = e.header;
  const path = e.path;
  const slash = path.lastIndexOf('/');
  const dir = path.slice(0, slash) || '/';
  const base = path.slice(slash + 1);
  // as the extractor: a parent that is there must be a directory (a symlink is never followed)
  const parts = dir.split('/').filter(Boolean);
  for (let k = 1; k <= parts.length; k++) {
    const at = w.stat(parts.slice(0, k).join('/'));
    if (at && !at.dir) throw refuse(h.name, `parent "${parts.slice(0, k).join('/')}" is not a directory`);
  }
  if (base === OPAQUE) {
    const d = w.stat(dir);
    if (!d) w.mkdir(dir, { mode: 0o755, uid: 0, gid: 0, mtime: 0 });
    const meta = w.stat(dir)!.meta;
    meta.xattrs = { ...meta.xattrs, [OPAQUE_XATTR]: Buffer.from('y') };
    return;
  }
  if (base.startsWith(WHITEOUT)) {
    const target = whiteoutTarget(h.name, base);
    // root's, mode 0: as tar2ext4 makes it and as the extractor's mknod template is
    w.special(`${dir}/${target}`, 'char', { mode: 0, uid: 0, gid: 0, mtime: metaOf(e, new Map()).mtime }, [0, 0]);
    return;
  }
  switch (h.type ?? 'file') {
    case 'directory': {
      // an opaque marker that came before its directory's own entry stays
      const before = w.stat(path);
      const opaque = before?.dir ? before.meta.xattrs?.[OPAQUE_XATTR] : undefined;
      const meta = metaOf(e, e.xattrs);
      if (opaque) meta.xattrs = { ...meta.xattrs, [OPAQUE_XATTR]: opaque };
      w.mkdir(path, meta);
      return;
    }
    case 'file':
    case 'contiguous-file': {
      let got = 0;
      const counted = async function* (): AsyncIterable<Buffer> {
        for await (const chunk of e.data) {
          got += (chunk as Buffer).length;
          yield chunk as Buffer;
        }
      };
      await w.file(path, metaOf(e, e.xattrs), counted());
      if (got !== (h.size ?? 0)) throw refuse(h.name, 'unexpected EOF');
      return;
    }
    case 'symlink':
      w.symlink(path, h.linkname!, metaOf(e, specialXattrs(e.xattrs, true)));
      return;
    case 'link': {
      const t = w.stat(e.linkPath!);
      if (!t) throw refuse(h.name, `hardlink target "${h.linkname}" does not exist`);
      if (t.dir) throw refuse(h.name, 'hardlink to a directory');
      if (e.linkPath !== path) w.hardlink(path, e.linkPath!);
      return;
    }
    case 'character-device':
    case 'block-device':
      w.special(path, h.type === 'character-device' ? 'char' : 'block', metaOf(e, specialXattrs(e.xattrs, false)), [h.devmajor ?? 0, h.devminor ?? 0]);
      return;
    case 'fifo':
      w.special(path, 'fifo', metaOf(e, specialXattrs(e.xattrs, false)));
      return;
    default:
      throw refuse(h.name, `unsupported entry type ${String(h.type)}`);
  }
}
