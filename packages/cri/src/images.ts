import { statfs } from 'node:fs/promises';
import { normalizeReference, parseReference } from '@berth/image-format';
import { isNotFound } from './grpc.js';
import type { ImageInspect, ImageSummary, PackedImage } from '@berth/engine';
import type { CriDeps } from './deps.js';
import { nowNanos } from './meta.js';

/** CRI spells names in full (`docker.io/library/busybox:latest`) where Docker shortens them. */
function fullName(ref: string): string {
  try {
    return parseReference(ref).toString();
  } catch {
    return ref;
  }
}

/** The image's user: a number is the uid, anything else a name (CRI's Image.uid / username). */
function imageUser(user: string | undefined): { uid: { value: string } | null; username: string } {
  const u = (user ?? '').split(':')[0] ?? '';
  // no user at all: uid unset, as containerd answers
  if (u === '') return { uid: null, username: '' };
  if (/^\d+$/.test(u)) return { uid: { value: u }, username: '' };
  return { uid: null, username: u };
}

const present = (v: unknown): boolean => v !== undefined && v !== null && v !== '' && v !== false && !(Array.isArray(v) && v.length === 0) && !(typeof v === 'object' && !Array.isArray(v) && Object.keys(v as object).length === 0);

/** The fields of `o` named in `keys` that Go's `omitempty` would print, in that order. */
function pick(o: Record<string, unknown> | undefined, keys: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of keys) if (o && present(o[k])) out[k] = o[k];
  return out;
}

/**
 * ImageStatus's verbose `imageSpec`: the config as containerd prints it, decoded into the OCI
 * image spec's struct and encoded again (its fields only, empty ones left out, `config` and
 * `rootfs` always there) — not Docker's inspect shape.
 */
export function ociImageSpec(configBytes: string): object {
  const c = JSON.parse(configBytes) as Record<string, any>;
  const rootfs = c.rootfs ?? {};
  return {
    ...pick(c, ['created', 'author', 'architecture', 'variant', 'os', 'os.version', 'os.features']),
    config: pick(c.config, ['User', 'ExposedPorts', 'Env', 'Entrypoint', 'Cmd', 'Volumes', 'WorkingDir', 'Labels', 'StopSignal', 'ArgsEscaped']),
    rootfs: { type: rootfs.type ?? '', diff_ids: rootfs.diff_ids ?? null },
    ...(present(c.history) ? { history: (c.history as Record<string, unknown>[]).map((h) => pick(h, ['created', 'created_by', 'author', 'comment', 'empty_layer'])) } : {}),
  };
}

export class Images {
  constructor(private readonly d: CriDeps) {}

  /** `size` is the image's packed size (manifest, config and layer blobs), containerd's, where Docker shows it unpacked. */
  private criImage(img: Pick<ImageInspect, 'Id' | 'RepoTags' | 'RepoDigests' | 'Size'> & { user?: string }): object {
    return {
      id: img.Id,
      repo_tags: (img.RepoTags ?? []).filter((t) => t !== '<none>:<none>').map(fullName),
      repo_digests: (img.RepoDigests ?? []).filter((t) => !t.startsWith('<none>')).map(fullName),
      size: String(img.Size ?? 0),
      ...imageUser(img.user),
      spec: { image: img.Id, annotations: {} },
      pinned: false,
    };
  }

  /** The local image a CRI reference names (its Size the packed one), or undefined. */
  private async find(ref: string): Promise<(ImageInspect & { packed: PackedImage }) | undefined> {
    try {
      const img = await this.d.engine.images.inspect(ref);
      const packed = await this.d.engine.images.packed(img.Id);
      return { ...img, Size: packed.size, packed };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      // not a reference the engine parses: no such image
      if ((err as { code?: string }).code === 'InvalidArgument') return undefined;
      throw err;
    }
  }

  async list(req: any): Promise<object> {
    const want = req.filter?.image?.image;
    if (want) {
      const img = await this.find(want);
      return { images: img ? [this.criImage({ ...img, user: img.Config?.User })] : [] };
    }
    const rows: ImageSummary[] = await this.d.engine.images.list({ all: false });
    const images = [];
    for (const s of rows) {
      const img = await this.find(s.Id);
      if (img) images.push(this.criImage({ ...img, user: img.Config?.User }));
    }
    return { images };
  }

  async status(req: any): Promise<object> {
    const img = await this.find(req.image?.image ?? '');
    if (!img) return { image: null, info: {} };
    return {
      image: this.criImage({ ...img, user: img.Config?.User }),
      info: req.verbose ? { info: JSON.stringify({ chainID: img.packed.chainId ?? '', imageSpec: ociImageSpec(img.packed.configBytes) }) } : {},
    };
  }

  async pull(req: any): Promise<object> {
    const ref: string = req.image?.image ?? '';
    const a = req.auth;
    const auth = a && (a.username || a.password || a.auth || a.identity_token || a.registry_token)
      ? {
          ...(a.username ? { username: a.username } : {}),
          ...(a.password ? { password: a.password } : {}),
          ...(a.auth ? { auth: a.auth } : {}),
          ...(a.server_address ? { serveraddress: a.server_address } : {}),
          ...(a.identity_token ? { identitytoken: a.identity_token } : {}),
          ...(a.registry_token ? { registrytoken: a.registry_token } : {}),
        }
      : undefined;
    const img = await this.d.engine.images.pull(normalizeReference(ref).toString(), auth ? { auth } : {});
    return { image_ref: img.Id };
  }

  async remove(req: any): Promise<object> {
    const img = await this.find(req.image?.image ?? '');
    if (!img) return {}; // removing a missing image is fine (CRI)
    await this.d.engine.images.remove(img.Id, { force: true }).catch((err: unknown) => {
      if (!(isNotFound(err))) throw err;
    });
    return {};
  }

  async fsInfo(): Promise<object> {
    const rows: ImageSummary[] = await this.d.engine.images.list({ all: true });
    const used = rows.reduce((n, r) => n + (r.Size ?? 0), 0);
    const st = await statfs(this.d.root).catch(() => undefined);
    const inodes = st ? st.files - st.ffree : 0;
    return {
      image_filesystems: [
        { timestamp: nowNanos(), fs_id: { mountpoint: this.d.root }, used_bytes: { value: String(used) }, inodes_used: { value: String(inodes) } },
      ],
    };
  }
}
