// The rows docker's formatters expose to --format templates (container, image, volume,
// network, stats), their column titles and default table formats. Field values are
// methods, as in docker, so `{{json .}}` lists every field and `.Label "x"` takes an argument.
import type { ContainerSummary, ImageSummary, Network, Port, Volume } from '@berth/engine-api';
import { normalizeReference } from '@berth/image-format';
import type { Fields } from './template.js';
import { goTimeString, humanSize, timeAgo } from './units.js';

/** stringid.TruncateID: drops an algorithm prefix, keeps 12 characters. */
export function truncateId(id: string): string {
  const i = id.indexOf(':');
  const s = i >= 0 ? id.slice(i + 1) : id;
  return s.length > 12 ? s.slice(0, 12) : s;
}

/** formatter.Ellipsis: cuts to `max` runes, the last one becoming `…`. */
export function ellipsis(s: string, max: number): string {
  const chars = [...s];
  if (chars.length <= max) return s;
  if (max <= 1) return chars.slice(0, max).join('');
  return `${chars.slice(0, max - 1).join('')}…`;
}

/** strconv.Quote for the printable strings a command line holds. */
function goQuote(s: string): string {
  return JSON.stringify(s).replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

export const CONTAINER_HEADERS: Record<string, string> = {
  ID: 'CONTAINER ID',
  Image: 'IMAGE',
  Command: 'COMMAND',
  CreatedAt: 'CREATED AT',
  RunningFor: 'CREATED',
  Ports: 'PORTS',
  State: 'STATE',
  Status: 'STATUS',
  Size: 'SIZE',
  Names: 'NAMES',
  Labels: 'LABELS',
  Label: 'LABEL',
  Mounts: 'MOUNTS',
  LocalVolumes: 'LOCAL VOLUMES',
  Networks: 'NETWORKS',
  Platform: 'PLATFORM',
};
export const CONTAINER_DEFAULT = 'table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}';

/** docker's DisplayablePorts: `0.0.0.0:8080->80/tcp, 443/tcp`, consecutive ports grouped. */
export function displayablePorts(input: Port[]): string {
  const ports = [...input].sort((a, b) => {
    if (a.PrivatePort !== b.PrivatePort) return a.PrivatePort - b.PrivatePort;
    if ((a.IP ?? '') !== (b.IP ?? '')) return (a.IP ?? '') < (b.IP ?? '') ? -1 : 1;
    if ((a.PublicPort ?? 0) !== (b.PublicPort ?? 0)) return (a.PublicPort ?? 0) - (b.PublicPort ?? 0);
    return a.Type < b.Type ? -1 : a.Type > b.Type ? 1 : 0;
  });
  const groups = new Map<string, { first: number; last: number }>();
  const result: string[] = [];
  const hostMappings: string[] = [];
  const formGroup = (key: string, first: number, last: number): string => {
    const slash = key.lastIndexOf('/');
    const ip = slash >= 0 ? key.slice(0, slash) : '';
    const type = slash >= 0 ? key.slice(slash + 1) : key;
    let group = String(first);
    if (first !== last) group = `${group}-${last}`;
    if (ip !== '') group = `${ip}:${group}->${group}`;
    return `${group}/${type}`;
  };
  for (const port of ports) {
    const current = port.PrivatePort;
    let key = port.Type;
    if (port.IP) {
      if (port.PublicPort !== current) {
        const host = port.IP.includes(':') ? `[${port.IP}]` : port.IP;
        hostMappings.push(`${host}:${port.PublicPort ?? 0}->${port.PrivatePort}/${port.Type}`);
        continue;
      }
      key = `${port.IP}/${port.Type}`;
    }
    const g = groups.get(key);
    if (!g) {
      groups.set(key, { first: current, last: current });
      continue;
    }
    if (current === g.last + 1) {
      g.last = current;
      continue;
    }
    result.push(formGroup(key, g.first, g.last));
    groups.set(key, { first: current, last: current });
  }
  for (const [key, g] of groups) result.push(formGroup(key, g.first, g.last));
  result.push(...hostMappings);
  return result.join(', ');
}

function sortedLabels(labels: Record<string, string> | null | undefined): string {
  return Object.keys(labels ?? {})
    .sort()
    .map((k) => `${k}=${(labels ?? {})[k]}`)
    .join(',');
}

/** A `docker ps` row. */
export function containerFields(c: ContainerSummary, opts: { trunc: boolean; now?: number }): Fields {
  const trunc = opts.trunc;
  return {
    Command: () => goQuote(trunc ? ellipsis(c.Command, 20) : c.Command),
    CreatedAt: () => goTimeString(new Date(c.Created * 1000)),
    ID: () => (trunc ? truncateId(c.Id) : c.Id),
    Image: () => {
      if (!trunc) return c.Image;
      if (truncateId(c.ImageID) === truncateId(c.Image)) return truncateId(c.Image);
      const at = c.Image.indexOf('@');
      return at >= 0 && !c.Image.startsWith('sha256:') ? c.Image.slice(0, at) : c.Image;
    },
    Labels: () => sortedLabels(c.Labels),
    Label: (name: unknown) => (c.Labels ?? {})[String(name)] ?? '',
    LocalVolumes: () => String((c.Mounts ?? []).filter((m) => m.Driver === 'local').length),
    Mounts: () => (c.Mounts ?? []).map((m) => (trunc ? ellipsis(m.Name || m.Source, 15) : m.Name || m.Source)).join(','),
    Names: () =>
      (c.Names ?? [])
        .map((n) => n.replace(/^\//, ''))
        .filter((n) => !trunc || !n.includes('/'))
        .join(','),
    Networks: () => Object.keys(c.NetworkSettings?.Networks ?? {}).sort().join(','),
    Platform: () => {
      const p = c.ImageManifestDescriptor?.platform;
      return p ? { architecture: p.architecture, os: p.os, ...(p.variant ? { variant: p.variant } : {}) } : null;
    },
    Ports: () => displayablePorts(c.Ports ?? []),
    RunningFor: () => timeAgo(c.Created, opts.now),
    Size: () => {
      const srw = humanSize(c.SizeRw ?? 0, 3);
      return (c.SizeRootFs ?? 0) > 0 ? `${srw} (virtual ${humanSize(c.SizeRootFs ?? 0, 3)})` : srw;
    },
    State: () => c.State,
    Status: () => c.Status,
  };
}

export const IMAGE_HEADERS: Record<string, string> = {
  ID: 'IMAGE ID',
  Repository: 'REPOSITORY',
  Tag: 'TAG',
  Digest: 'DIGEST',
  CreatedSince: 'CREATED',
  CreatedAt: 'CREATED AT',
  Size: 'SIZE',
  Containers: 'CONTAINERS',
  VirtualSize: 'VIRTUAL SIZE',
  SharedSize: 'SHARED SIZE',
  UniqueSize: 'UNIQUE SIZE',
};
export const IMAGE_DEFAULT = 'table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}';
export const IMAGE_DEFAULT_DIGESTS = 'table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}';

function familiarName(ref: string): { repo: string; tag: string | undefined; digest: string | undefined } {
  try {
    const r = normalizeReference(ref.includes('@') ? ref : ref);
    return { repo: r.familiarName(), tag: ref.includes('@') ? undefined : r.tag, digest: r.digest };
  } catch {
    const at = ref.indexOf('@');
    if (at >= 0) return { repo: ref.slice(0, at), tag: undefined, digest: ref.slice(at + 1) };
    const colon = ref.lastIndexOf(':');
    return colon > ref.lastIndexOf('/') ? { repo: ref.slice(0, colon), tag: ref.slice(colon + 1), digest: undefined } : { repo: ref, tag: undefined, digest: undefined };
  }
}

/** The rows of `docker images`: one per repository:tag (untagged images: `<none>`). */
export function imageRows(images: ImageSummary[], opts: { trunc: boolean; digests: boolean; now?: number }): Fields[] {
  const rows: Fields[] = [];
  for (const img of images) {
    const digestsByRepo = new Map<string, string[]>();
    for (const d of img.RepoDigests ?? []) {
      const f = familiarName(d);
      if (f.digest) digestsByRepo.set(f.repo, [...(digestsByRepo.get(f.repo) ?? []), f.digest]);
    }
    const tagged = (img.RepoTags ?? []).filter((t) => t !== '<none>:<none>').map(familiarName);
    const seenRepos = new Set<string>();
    for (const t of tagged) {
      seenRepos.add(t.repo);
      // Without --digests docker shows each tag once, its digest as <none>.
      const ds = opts.digests ? (digestsByRepo.get(t.repo) ?? []) : [];
      if (ds.length > 0) for (const d of ds) rows.push(imageFields(img, t.repo, t.tag ?? '<none>', d, opts));
      else rows.push(imageFields(img, t.repo, t.tag ?? '<none>', '<none>', opts));
    }
    for (const [repo, ds] of digestsByRepo) {
      if (seenRepos.has(repo)) continue;
      seenRepos.add(repo);
      if (opts.digests) for (const d of ds) rows.push(imageFields(img, repo, '<none>', d, opts));
      else rows.push(imageFields(img, repo, '<none>', '', opts));
    }
    if (seenRepos.size === 0) rows.push(imageFields(img, '<none>', '<none>', '<none>', opts));
  }
  return rows;
}

function imageFields(img: ImageSummary, repo: string, tag: string, digest: string, opts: { trunc: boolean; now?: number }): Fields {
  return {
    Containers: () => (img.Containers === -1 ? 'N/A' : String(img.Containers)),
    CreatedAt: () => goTimeString(new Date(img.Created * 1000)),
    CreatedSince: () => (img.Created > 0 ? timeAgo(img.Created, opts.now) : 'N/A'),
    Digest: () => digest,
    ID: () => (opts.trunc ? truncateId(img.Id) : img.Id),
    Repository: () => repo,
    SharedSize: () => (img.SharedSize === -1 ? 'N/A' : humanSize(img.SharedSize, 3)),
    Size: () => humanSize(img.Size, 3),
    Tag: () => tag,
    UniqueSize: () => (img.SharedSize === -1 ? 'N/A' : humanSize(img.Size - img.SharedSize, 3)),
    VirtualSize: () => humanSize(img.VirtualSize ?? img.Size),
  };
}

export const VOLUME_HEADERS: Record<string, string> = {
  Name: 'VOLUME NAME',
  Driver: 'DRIVER',
  Scope: 'SCOPE',
  Mountpoint: 'MOUNTPOINT',
  Labels: 'LABELS',
  Links: 'LINKS',
  Size: 'SIZE',
  Availability: 'AVAILABILITY',
  Group: 'GROUP',
};
export const VOLUME_DEFAULT = 'table {{.Driver}}\t{{.Name}}';

export function volumeFields(v: Volume): Fields {
  return {
    Availability: () => 'N/A',
    Driver: () => v.Driver,
    Group: () => 'N/A',
    Labels: () => sortedLabels(v.Labels),
    Label: (name: unknown) => (v.Labels ?? {})[String(name)] ?? '',
    Links: () => (v.UsageData ? String(v.UsageData.RefCount) : 'N/A'),
    Mountpoint: () => v.Mountpoint,
    Name: () => v.Name,
    Scope: () => v.Scope,
    Size: () => (v.UsageData && v.UsageData.Size >= 0 ? humanSize(v.UsageData.Size, 3) : 'N/A'),
    Status: () => 'N/A',
  };
}

export const NETWORK_HEADERS: Record<string, string> = {
  ID: 'NETWORK ID',
  Name: 'NAME',
  Driver: 'DRIVER',
  Scope: 'SCOPE',
  IPv4: 'IPV4',
  IPv6: 'IPV6',
  Internal: 'INTERNAL',
  Labels: 'LABELS',
  CreatedAt: 'CREATED AT',
};
export const NETWORK_DEFAULT = 'table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}';

export function networkFields(n: Network, opts: { trunc: boolean }): Fields {
  return {
    CreatedAt: () => goTimeString(new Date(n.Created)),
    Driver: () => n.Driver,
    ID: () => (opts.trunc ? truncateId(n.Id) : n.Id),
    IPv4: () => String(n.EnableIPv4 ?? true),
    IPv6: () => String(n.EnableIPv6),
    Internal: () => String(n.Internal),
    Labels: () => sortedLabels(n.Labels),
    Label: (name: unknown) => (n.Labels ?? {})[String(name)] ?? '',
    Name: () => n.Name,
    Scope: () => n.Scope,
  };
}
