// Pure: from an image config and a `POST /containers/create` body to the merged Docker
// `Config` (what inspect shows) and the run plan the engine hands to the driver.
import { InvalidArgumentError } from '@berth/image-format';
import type { ContainerConfig, ContainerCreateBody, HostConfig, MountSpec, PortMap } from './docker-types.js';

/** The part of an OCI/Docker image config the engine reads. */
export interface ImageConfigLike {
  architecture?: string;
  os?: string;
  variant?: string;
  config?: {
    User?: string;
    Env?: string[] | null;
    Entrypoint?: string[] | null;
    Cmd?: string[] | null;
    WorkingDir?: string;
    Labels?: Record<string, string> | null;
    ExposedPorts?: Record<string, object> | null;
    Volumes?: Record<string, object> | null;
    StopSignal?: string;
    Shell?: string[] | null;
    OnBuild?: string[] | null;
    Healthcheck?: unknown;
  };
}

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Docker's StrSlice: a JSON string is a one-element list. */
export function strSlice(v: string[] | string | null | undefined): string[] | undefined {
  if (v === null || v === undefined) return undefined;
  return typeof v === 'string' ? [v] : v;
}

/** Overlays `over` onto `base` by variable name, keeping base's order. */
export function mergeEnv(base: readonly string[], over: readonly string[]): string[] {
  const out = [...base];
  const index = new Map<string, number>();
  out.forEach((e, i) => index.set(envKey(e), i));
  for (const e of over) {
    const i = index.get(envKey(e));
    if (i === undefined) {
      index.set(envKey(e), out.length);
      out.push(e);
    } else out[i] = e;
  }
  return out;
}

function envKey(e: string): string {
  const eq = e.indexOf('=');
  return eq < 0 ? e : e.slice(0, eq);
}

/**
 * Docker's merge of image config and create body: an Entrypoint given in the body resets
 * the image's Cmd; Env overlays by name; Labels, ExposedPorts and Volumes are unions.
 */
export function mergeConfig(image: ImageConfigLike, body: ContainerCreateBody, hostname: string): ContainerConfig {
  const ic = image.config ?? {};
  const bodyEntrypoint = strSlice(body.Entrypoint);
  const bodyCmd = strSlice(body.Cmd);
  const entrypoint = bodyEntrypoint !== undefined ? bodyEntrypoint : (ic.Entrypoint ?? null);
  const cmd = bodyCmd !== undefined ? bodyCmd : bodyEntrypoint !== undefined ? null : (ic.Cmd ?? null);
  let env = mergeEnv(ic.Env ?? [], body.Env ?? []);
  if (!env.some((e) => e.startsWith('PATH='))) env = [`PATH=${DEFAULT_PATH}`, ...env];
  const union = <T>(a: Record<string, T> | null | undefined, b: Record<string, T> | null | undefined): Record<string, T> | null => {
    const m = { ...(a ?? {}), ...(b ?? {}) };
    return Object.keys(m).length > 0 ? m : null;
  };
  const exposed = union(ic.ExposedPorts, body.ExposedPorts);
  const ports = { ...(exposed ?? {}) };
  for (const p of Object.keys(body.HostConfig?.PortBindings ?? {})) ports[normalisePortKey(p)] = {};
  return {
    Hostname: body.Hostname || hostname,
    Domainname: body.Domainname ?? '',
    User: body.User || ic.User || '',
    AttachStdin: body.AttachStdin ?? false,
    AttachStdout: body.AttachStdout ?? false,
    AttachStderr: body.AttachStderr ?? false,
    ...(Object.keys(ports).length > 0 ? { ExposedPorts: ports } : {}),
    Tty: body.Tty ?? false,
    OpenStdin: body.OpenStdin ?? false,
    StdinOnce: body.StdinOnce ?? false,
    Env: env,
    Cmd: cmd,
    Image: body.Image,
    Volumes: union(ic.Volumes, body.Volumes),
    WorkingDir: body.WorkingDir || ic.WorkingDir || '',
    Entrypoint: entrypoint,
    OnBuild: ic.OnBuild ?? null,
    Labels: { ...(ic.Labels ?? {}), ...(body.Labels ?? {}) },
    ...(body.StopSignal || ic.StopSignal ? { StopSignal: body.StopSignal || ic.StopSignal } : {}),
    ...(body.StopTimeout !== undefined && body.StopTimeout !== null ? { StopTimeout: body.StopTimeout } : {}),
    ...(body.Healthcheck || ic.Healthcheck ? { Healthcheck: (body.Healthcheck ?? ic.Healthcheck) as ContainerConfig['Healthcheck'] } : {}),
  };
}

/** Path and Args as Docker reports them; InvalidArgument when there is nothing to run. */
export function processArgs(config: ContainerConfig): { path: string; args: string[] } {
  const argv = [...(strSlice(config.Entrypoint) ?? []), ...(strSlice(config.Cmd) ?? [])];
  if (argv.length === 0) throw new InvalidArgumentError('no command specified');
  return { path: argv[0]!, args: argv.slice(1) };
}

export function normalisePortKey(key: string): string {
  return key.includes('/') ? key.toLowerCase() : `${key}/tcp`;
}

export interface PublishedPort {
  containerPort: number;
  protocol: 'tcp' | 'udp' | 'sctp';
  hostIp: string;
  /** 0 = pick a free one. */
  hostPort: number;
}

/** `{"80/tcp": [{"HostPort": "8080"}]}` -> one entry per binding; ranges are expanded. */
export function publishedPorts(bindings: PortMap | null | undefined): PublishedPort[] {
  const out: PublishedPort[] = [];
  for (const [key, list] of Object.entries(bindings ?? {})) {
    const [portPart, protoPart = 'tcp'] = normalisePortKey(key).split('/');
    const protocol = protoPart as PublishedPort['protocol'];
    if (!['tcp', 'udp', 'sctp'].includes(protocol)) throw new InvalidArgumentError(`invalid proto: ${protoPart}`);
    const [cStart, cEnd] = parseRange(portPart!, key);
    for (const b of list ?? [{}]) {
      const hp = b.HostPort ?? '';
      const [hStart, hEnd] = hp === '' ? [0, 0] : parseRange(hp, hp);
      for (let p = cStart; p <= cEnd; p++) {
        const hostPort = hStart === 0 ? 0 : hEnd > hStart ? hStart + (p - cStart) : hStart;
        out.push({ containerPort: p, protocol, hostIp: b.HostIp ?? '', hostPort });
      }
    }
  }
  return out;
}

function parseRange(s: string, what: string): [number, number] {
  const m = /^(\d+)(?:-(\d+))?$/.exec(s);
  if (!m) throw new InvalidArgumentError(`invalid port specification: "${what}"`);
  const a = Number(m[1]);
  const b = m[2] ? Number(m[2]) : a;
  if (a < 0 || a > 65535 || b < a || b > 65535) throw new InvalidArgumentError(`invalid port specification: "${what}"`);
  return [a, b];
}

/** A mount the engine must provide, before volumes are resolved to host paths. */
export type MountRequest =
  | { type: 'bind'; source: string; target: string; readOnly: boolean; propagation: string; createSource: boolean }
  | { type: 'volume'; name: string | undefined; target: string; readOnly: boolean; noCopy: boolean; anonymous: boolean; labels?: Record<string, string> }
  | { type: 'tmpfs'; target: string; options: string[] };

/** Binds (`src:dst[:ro,...]`), Mounts, Tmpfs and the image's/body's `Volumes` -> mount requests, one per target. */
export function mountRequests(config: ContainerConfig, host: HostConfig): MountRequest[] {
  const byTarget = new Map<string, MountRequest>();
  const add = (m: MountRequest): void => {
    if (!m.target.startsWith('/')) throw new InvalidArgumentError(`invalid mount config for type "${m.type}": invalid mount path: '${m.target}' mount path must be absolute`);
    const target = normaliseTarget(m.target);
    if (byTarget.has(target) && !(byTarget.get(target)!.type === 'volume' && (byTarget.get(target) as { anonymous: boolean }).anonymous)) {
      throw new InvalidArgumentError(`Duplicate mount point: ${target}`);
    }
    byTarget.set(target, { ...m, target });
  };
  for (const v of Object.keys(config.Volumes ?? {})) {
    byTarget.set(normaliseTarget(v), { type: 'volume', name: undefined, target: normaliseTarget(v), readOnly: false, noCopy: false, anonymous: true });
  }
  for (const b of host.Binds ?? []) add(parseBind(b));
  // Target is assumed present, as it was before the types moved to engine-api; the create schema
  // does not require it, so a missing one still ends in an untyped TypeError in add(), not an InvalidArgumentError.
  for (const m of host.Mounts ?? []) add(fromMountSpec(m as MountSpec));
  for (const [target, opts] of Object.entries(host.Tmpfs ?? {})) add({ type: 'tmpfs', target, options: opts ? opts.split(',') : [] });
  return [...byTarget.values()];
}

function normaliseTarget(t: string): string {
  return t.length > 1 ? t.replace(/\/+$/, '') : t;
}

export function parseBind(spec: string): MountRequest {
  const parts = spec.split(':');
  if (parts.length < 2 || parts.length > 3 || !parts[0] || !parts[1]) throw new InvalidArgumentError(`invalid volume specification: '${spec}'`);
  const [source, target, modeStr = ''] = parts as [string, string, string?];
  const modes = modeStr ? modeStr.split(',') : [];
  for (const m of modes) {
    if (!['ro', 'rw', 'z', 'Z', 'nocopy', 'private', 'rprivate', 'shared', 'rshared', 'slave', 'rslave', 'consistent', 'cached', 'delegated'].includes(m)) {
      throw new InvalidArgumentError(`invalid mode: ${m}`);
    }
  }
  const readOnly = modes.includes('ro');
  if (source.startsWith('/')) {
    const propagation = modes.find((m) => /^r?(private|shared|slave)$/.test(m)) ?? 'rprivate';
    return { type: 'bind', source, target, readOnly, propagation, createSource: true };
  }
  return { type: 'volume', name: source, target, readOnly, noCopy: modes.includes('nocopy'), anonymous: false };
}

function fromMountSpec(m: MountSpec): MountRequest {
  // The API schema leaves Target optional (as Docker's does); Docker answers 400, so do we.
  if (typeof m.Target !== 'string' || m.Target === '') {
    throw new InvalidArgumentError(`invalid mount config for type "${m.Type}": field Target must not be empty`);
  }
  switch (m.Type) {
    case 'bind':
      if (!m.Source) throw new InvalidArgumentError('invalid mount config for type "bind": field Source must not be empty');
      return { type: 'bind', source: m.Source, target: m.Target, readOnly: m.ReadOnly ?? false, propagation: m.BindOptions?.Propagation || 'rprivate', createSource: m.BindOptions?.CreateMountpoint ?? false };
    case 'volume':
      return { type: 'volume', name: m.Source || undefined, target: m.Target, readOnly: m.ReadOnly ?? false, noCopy: m.VolumeOptions?.NoCopy ?? false, anonymous: !m.Source, ...(m.VolumeOptions?.Labels ? { labels: m.VolumeOptions.Labels } : {}) };
    case 'tmpfs': {
      const options: string[] = [];
      if (m.TmpfsOptions?.SizeBytes) options.push(`size=${m.TmpfsOptions.SizeBytes}`);
      if (m.TmpfsOptions?.Mode) options.push(`mode=${m.TmpfsOptions.Mode.toString(8)}`);
      return { type: 'tmpfs', target: m.Target, options };
    }
    default:
      throw new InvalidArgumentError(`invalid mount config: mount type unknown: "${m.Type}"`);
  }
}

/** Docker's RestartPolicy check, with its messages. */
export function checkRestartPolicy(host: HostConfig): void {
  const p = host.RestartPolicy;
  const name = p?.Name ?? '';
  if (!['', 'no', 'always', 'unless-stopped', 'on-failure'].includes(name)) {
    throw new InvalidArgumentError(`invalid restart policy: unknown policy '${name}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'`);
  }
  if ((p?.MaximumRetryCount ?? 0) < 0) throw new InvalidArgumentError('invalid restart policy: maximum retry count cannot be negative');
  if (name !== 'on-failure' && (p?.MaximumRetryCount ?? 0) > 0) {
    throw new InvalidArgumentError(`invalid restart policy: maximum retry count can only be used with 'on-failure'`);
  }
  if (host.AutoRemove && name !== '' && name !== 'no') {
    throw new InvalidArgumentError("conflicting options: cannot specify both --restart and --rm");
  }
}

/** Signal name or number -> canonical `SIGXXX` (or the number as text). */
export function normaliseSignal(sig: string | number | undefined, fallback = 'SIGTERM'): string {
  if (sig === undefined || sig === '') return fallback;
  const s = String(sig).toUpperCase();
  if (/^\d+$/.test(s)) return s;
  const name = s.startsWith('SIG') ? s : `SIG${s}`;
  if (!/^SIG[A-Z0-9+-]+$/.test(name)) throw new InvalidArgumentError(`Invalid signal: ${sig}`);
  return name;
}
