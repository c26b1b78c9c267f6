import { statfs } from 'node:fs/promises';
import { normalizeReference, parseReference } from '@berth/image-format';
import { isNotFound } from './grpc.js';
import type { ImageInspect, ImageSummary } from '@berth/engine';
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

export class Images {
  constructor(private readonly d: CriDeps) {}

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

  /** The local image a CRI reference names, or undefined. */
  private async find(ref: string): Promise<ImageInspect | undefined> {
    try {
      return await this.d.engine.images.inspect(ref);
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
      info: req.verbose ? { info: JSON.stringify({ imageSpec: { created: img.Created, architecture: img.Architecture, os: img.Os, config: img.Config, rootfs: img.RootFS }, chainID: img.RootFS?.Layers?.at(-1) ?? '' }) } : {},
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
