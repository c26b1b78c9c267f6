// `docker run`/`create` flags -> the Engine API's create body, as the docker CLI maps them.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { InvalidArgumentError } from '@berth/image-format';
import type { ContainerCreateBody, HostConfig, Mount, PortBinding } from '@berth/engine-api';
import { parseBytes } from '../format/units.js';

/** The flags of `run`/`create`, as commander hands them over. */
export interface RunFlags {
  detach?: boolean;
  /** Keys that detach from an attached TTY (Docker's --detach-keys; default ctrl-p,ctrl-q). */
  detachKeys?: string;
  /** -a/--attach: the streams to attach (stdin, stdout, stderr; any case); none given means stdout and stderr. */
  attach?: string[];
  /** --sig-proxy (default true): signals to berth go to a container without a TTY. */
  sigProxy?: string | boolean;
  rm?: boolean;
  interactive?: boolean;
  tty?: boolean;
  env: string[];
  envFile: string[];
  volume: string[];
  mount: string[];
  publish: string[];
  publishAll?: boolean;
  name?: string;
  workdir?: string;
  user?: string;
  entrypoint?: string;
  network?: string;
  restart?: string;
  memory?: string;
  cpus?: string;
  pidsLimit?: string;
  readOnly?: boolean;
  capAdd: string[];
  capDrop: string[];
  securityOpt: string[];
  label: string[];
  hostname?: string;
  privileged?: boolean;
  expose: string[];
  tmpfs: string[];
  addHost: string[];
  dns: string[];
  stopSignal?: string;
  stopTimeout?: string;
  ulimit?: string[];
  groupAdd?: string[];
  pid?: string;
  ipc?: string;
  uts?: string;
  cpusetCpus?: string;
  sysctl?: string[];
  init?: boolean;
  platform?: string;
  pull?: string;
}

export const EMPTY_RUN_FLAGS: RunFlags = {
  env: [],
  envFile: [],
  volume: [],
  mount: [],
  publish: [],
  capAdd: [],
  capDrop: [],
  securityOpt: [],
  label: [],
  expose: [],
  tmpfs: [],
  addHost: [],
  dns: [],
};

/**
 * Docker's -a: the named streams, plus stdin whenever -i is given; without -a, stdout and
 * stderr (and stdin with -i). `-a` with `-d` conflicts.
 */
function attachedStreams(flags: Pick<RunFlags, 'attach' | 'interactive' | 'detach'>): { stdin: boolean; stdout: boolean; stderr: boolean } {
  const named = (flags.attach ?? []).map((s) => s.toLowerCase());
  if (named.length === 0) return { stdin: Boolean(flags.interactive), stdout: true, stderr: true };
  if (flags.detach) throw new InvalidArgumentError('Conflicting options: -a and -d');
  for (const [i, s] of named.entries()) {
    if (!['stdin', 'stdout', 'stderr'].includes(s)) {
      throw new InvalidArgumentError(`invalid argument "${(flags.attach ?? [])[i]}" for "-a, --attach" flag: valid streams are STDIN, STDOUT and STDERR`);
    }
  }
  return { stdin: named.includes('stdin') || Boolean(flags.interactive), stdout: named.includes('stdout'), stderr: named.includes('stderr') };
}

/** --sig-proxy's value: true unless given as false. */
export function sigProxyOn(flags: Pick<RunFlags, 'sigProxy'>): boolean {
  const v = flags.sigProxy;
  if (v === undefined || v === true) return true;
  if (v === false || /^(false|0)$/i.test(v)) return false;
  if (/^(true|1)$/i.test(v)) return true;
  throw new InvalidArgumentError(`invalid argument "${v}" for "--sig-proxy" flag: strconv.ParseBool: parsing "${v}": invalid syntax`);
}

/** Builds the create body; `consoleSize` is [rows, columns] of the local terminal for -t. */
export function buildCreateBody(
  flags: RunFlags,
  image: string,
  command: string[],
  env: NodeJS.ProcessEnv = process.env,
  consoleSize?: [number, number],
): ContainerCreateBody {
  const attach = !flags.detach;
  const streams = attachedStreams(flags);
  const exposed: Record<string, object> = {};
  const bindings: Record<string, PortBinding[]> = {};
  for (const spec of flags.publish) {
    for (const p of parsePublish(spec)) {
      exposed[p.port] = {};
      (bindings[p.port] ??= []).push(p.binding);
    }
  }
  for (const e of flags.expose) {
    for (const port of expandPortRange(e)) exposed[port] = {};
  }
  const binds: string[] = [];
  const volumes: Record<string, object> = {};
  for (const v of flags.volume) {
    const parsed = parseVolume(v);
    if (parsed.anonymous) volumes[parsed.target] = {};
    else binds.push(parsed.spec);
  }
  const mounts = flags.mount.map(parseMount);
  const hostConfig: HostConfig = {
    Binds: binds.length > 0 ? binds : null,
    NetworkMode: flags.network ?? 'default',
    PortBindings: bindings,
    RestartPolicy: parseRestart(flags.restart),
    AutoRemove: Boolean(flags.rm),
    Mounts: mounts.length > 0 ? mounts : null,
    CapAdd: flags.capAdd.length > 0 ? flags.capAdd.map(normalizeCapability) : null,
    CapDrop: flags.capDrop.length > 0 ? flags.capDrop.map(normalizeCapability) : null,
    Privileged: Boolean(flags.privileged),
    PublishAllPorts: Boolean(flags.publishAll),
    ReadonlyRootfs: Boolean(flags.readOnly),
    SecurityOpt: flags.securityOpt.length > 0 ? flags.securityOpt : null,
  };
  if (flags.memory !== undefined) hostConfig.Memory = parseMemory(flags.memory);
  if (flags.cpus !== undefined) hostConfig.NanoCpus = parseCpus(flags.cpus);
  if (flags.pidsLimit !== undefined) hostConfig.PidsLimit = parseInteger('--pids-limit', flags.pidsLimit);
  if (flags.tmpfs.length > 0) hostConfig.Tmpfs = Object.fromEntries(flags.tmpfs.map((t) => splitOnce(t, ':')));
  if (flags.addHost.length > 0) hostConfig.ExtraHosts = flags.addHost;
  if (flags.dns.length > 0) hostConfig.Dns = flags.dns;
  if (flags.init) hostConfig.Init = true;
  if (flags.ulimit?.length) hostConfig.Ulimits = flags.ulimit.map(parseUlimit);
  if (flags.groupAdd?.length) hostConfig.GroupAdd = flags.groupAdd;
  if (flags.pid) hostConfig.PidMode = flags.pid;
  if (flags.ipc) hostConfig.IpcMode = flags.ipc;
  if (flags.uts) hostConfig.UTSMode = flags.uts;
  if (flags.cpusetCpus) hostConfig.CpusetCpus = flags.cpusetCpus;
  if (flags.sysctl?.length) hostConfig.Sysctls = Object.fromEntries(flags.sysctl.map((kv) => splitOnce(kv, '=')));
  if (flags.tty && consoleSize) hostConfig.ConsoleSize = consoleSize;

  const body: ContainerCreateBody = {
    Hostname: flags.hostname ?? '',
    Domainname: '',
    User: flags.user ?? '',
    AttachStdin: attach && streams.stdin,
    AttachStdout: attach && streams.stdout,
    AttachStderr: attach && streams.stderr,
    Tty: Boolean(flags.tty),
    OpenStdin: Boolean(flags.interactive),
    StdinOnce: attach && streams.stdin,
    Env: collectEnv(flags.env, flags.envFile, env),
    Cmd: command.length > 0 ? command : null,
    Image: image,
    Volumes: Object.keys(volumes).length > 0 ? volumes : null,
    WorkingDir: flags.workdir ?? '',
    Entrypoint: flags.entrypoint === undefined ? null : flags.entrypoint === '' ? [''] : [flags.entrypoint],
    Labels: Object.fromEntries(flags.label.map((l) => splitOnce(l, '='))),
    HostConfig: hostConfig,
    NetworkingConfig: { EndpointsConfig: {} },
  };
  if (Object.keys(exposed).length > 0) body.ExposedPorts = exposed;
  if (flags.stopSignal) body.StopSignal = flags.stopSignal;
  if (flags.stopTimeout !== undefined) body.StopTimeout = parseInteger('--stop-timeout', flags.stopTimeout);
  return body;
}

/** docker's NormalizeCapabilities: upper case with a CAP_ prefix; ALL stays ALL. */
function normalizeCapability(cap: string): string {
  const c = cap.trim().toUpperCase();
  if (c === 'ALL' || c.startsWith('CAP_')) return c;
  return `CAP_${c}`;
}

function splitOnce(s: string, sep: string): [string, string] {
  const i = s.indexOf(sep);
  return i < 0 ? [s, ''] : [s.slice(0, i), s.slice(i + 1)];
}

function parseInteger(flag: string, value: string): number {
  if (!/^-?\d+$/.test(value)) throw new InvalidArgumentError(`invalid argument "${value}" for "${flag}" flag: strconv.ParseInt: parsing "${value}": invalid syntax`);
  return Number(value);
}

/** `--memory 512m`: bytes (binary multiples), as docker's RAMInBytes. */
export function parseMemory(value: string): number {
  try {
    return parseBytes(value);
  } catch {
    throw new InvalidArgumentError(`invalid argument "${value}" for "-m, --memory" flag: invalid size: '${value}'`);
  }
}

/** `--cpus 1.5` -> NanoCpus 1500000000. */
export function parseCpus(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || value.trim() === '') throw new InvalidArgumentError(`invalid argument "${value}" for "--cpus" flag: failed to parse ${value} as a rational number`);
  return Math.round(n * 1e9);
}

/** `--restart no|always|unless-stopped|on-failure[:N]`. */
export function parseRestart(value: string | undefined): { Name: string; MaximumRetryCount: number } {
  if (value === undefined || value === '') return { Name: 'no', MaximumRetryCount: 0 };
  const [name, count] = splitOnce(value, ':');
  if (!['no', 'always', 'unless-stopped', 'on-failure'].includes(name)) {
    throw new InvalidArgumentError(`invalid restart policy format: ${value}`);
  }
  if (count !== '' && name !== 'on-failure') throw new InvalidArgumentError(`invalid restart policy format: maximum retry count can only be used with 'on-failure'`);
  return { Name: name, MaximumRetryCount: count === '' ? 0 : parseInteger('--restart', count) };
}

/** `-e K=V`, `-e K` (taken from the environment when set), `--env-file f`. */
export function collectEnv(envFlags: string[], envFiles: string[], env: NodeJS.ProcessEnv): string[] {
  const out: string[] = [];
  const add = (entry: string): void => {
    if (entry.includes('=')) out.push(entry);
    else if (env[entry] !== undefined) out.push(`${entry}=${env[entry]}`);
  };
  for (const file of envFiles) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new InvalidArgumentError(`open ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (err as Error).message}`);
    }
    for (const raw of text.split(/\r?\n/)) {
      const line = raw.replace(/^\s+/, '');
      if (line === '' || line.startsWith('#')) continue;
      add(line);
    }
  }
  for (const e of envFlags) add(e);
  return out;
}

/** `-p [ip:][hostPort:]containerPort[/proto]`, ranges allowed (`8000-8001:80-81`). */
export function parsePublish(spec: string): { port: string; binding: PortBinding }[] {
  let rest = spec;
  let proto = 'tcp';
  const slash = rest.lastIndexOf('/');
  if (slash >= 0) {
    proto = rest.slice(slash + 1);
    rest = rest.slice(0, slash);
  }
  let ip = '';
  let hostPart = '';
  let containerPart: string;
  const v6 = /^\[([^\]]+)\]:(.*)$/.exec(rest);
  if (v6) {
    ip = v6[1] as string;
    rest = v6[2] as string;
    [hostPart, containerPart] = splitOnce(rest, ':');
  } else {
    const parts = rest.split(':');
    if (parts.length === 1) containerPart = parts[0] as string;
    else if (parts.length === 2) [hostPart, containerPart] = parts as [string, string];
    else if (parts.length === 3) [ip, hostPart, containerPart] = parts as [string, string, string];
    else throw new InvalidArgumentError(`invalid publish opts format (should be name=value but got '${spec}')`);
  }
  if (!['tcp', 'udp', 'sctp'].includes(proto)) throw new InvalidArgumentError(`invalid proto: ${proto}`);
  const cports = expandRange(containerPart, spec);
  const hports = hostPart === '' ? [] : expandRange(hostPart, spec);
  if (hports.length > 1 && hports.length !== cports.length) throw new InvalidArgumentError(`invalid ranges specified for container and host Ports: ${containerPart} and ${hostPart}`);
  return cports.map((c, i) => ({
    port: `${c}/${proto}`,
    binding: { HostIp: ip, HostPort: hports.length === 0 ? '' : hports.length === 1 && cports.length > 1 ? String(hports[0]) : String(hports[i]) },
  }));
}

function expandRange(part: string, spec: string): number[] {
  const m = /^(\d+)(?:-(\d+))?$/.exec(part);
  if (!m) throw new InvalidArgumentError(`invalid containerPort: ${part === '' ? spec : part}`);
  const a = Number(m[1]);
  const b = m[2] === undefined ? a : Number(m[2]);
  if (a < 1 || b > 65535 || b < a) throw new InvalidArgumentError(`invalid port range: ${part}`);
  return Array.from({ length: b - a + 1 }, (_x, i) => a + i);
}

function expandPortRange(spec: string): string[] {
  const [ports, proto = 'tcp'] = spec.split('/') as [string, string?];
  return expandRange(ports, spec).map((p) => `${p}/${proto}`);
}

/** `-v [src:]dst[:opts]`: a bind (absolute src), a named volume, or an anonymous volume. */
export function parseVolume(spec: string): { anonymous: boolean; target: string; spec: string } {
  const parts = spec.split(':');
  if (parts.length === 1) {
    if (!spec.startsWith('/')) throw new InvalidArgumentError(`invalid volume specification: '${spec}': invalid mount config for type "volume": invalid mount path: '${spec}' mount path must be absolute`);
    return { anonymous: true, target: spec, spec };
  }
  if (parts.length > 3) throw new InvalidArgumentError(`invalid volume specification: '${spec}'`);
  const [src, dst, mode] = parts as [string, string, string?];
  if (!dst.startsWith('/')) throw new InvalidArgumentError(`invalid volume specification: '${spec}': invalid mount config for type "bind": invalid mount path: '${dst}' mount path must be absolute`);
  const source = src.startsWith('.') ? resolve(src) : src;
  return { anonymous: false, target: dst, spec: [source, dst, ...(mode ? [mode] : [])].join(':') };
}

/** `--mount type=bind,source=/a,target=/b,readonly`. */
export function parseMount(spec: string): Mount {
  const m: Mount = { Type: 'volume' };
  for (const field of spec.split(',')) {
    const [rawKey, value] = splitOnce(field, '=');
    const key = rawKey.trim().toLowerCase();
    const hasValue = field.includes('=');
    switch (key) {
      case 'type':
        m.Type = value;
        break;
      case 'source':
      case 'src':
        m.Source = value;
        break;
      case 'target':
      case 'destination':
      case 'dst':
        m.Target = value;
        break;
      case 'readonly':
      case 'ro':
        m.ReadOnly = !hasValue || ['1', 'true'].includes(value.toLowerCase());
        break;
      case 'bind-propagation':
        m.BindOptions = { ...m.BindOptions, Propagation: value };
        break;
      case 'volume-nocopy':
        m.VolumeOptions = { ...m.VolumeOptions, NoCopy: !hasValue || value === 'true' || value === '1' };
        break;
      case 'volume-subpath':
        m.VolumeOptions = { ...m.VolumeOptions, Subpath: value };
        break;
      case 'tmpfs-size':
        m.TmpfsOptions = { ...m.TmpfsOptions, SizeBytes: parseBytes(value) };
        break;
      case 'tmpfs-mode':
        m.TmpfsOptions = { ...m.TmpfsOptions, Mode: Number.parseInt(value, 8) };
        break;
      default:
        throw new InvalidArgumentError(`invalid argument "${spec}" for "--mount" flag: unexpected key '${rawKey}' in '${field}'`);
    }
  }
  if (!m.Target) throw new InvalidArgumentError(`invalid argument "${spec}" for "--mount" flag: target is required`);
  if (m.Type === 'bind' && !m.Source) throw new InvalidArgumentError(`invalid argument "${spec}" for "--mount" flag: source is required when specifying volume-* options`);
  return m;
}

const ULIMITS = ['as', 'core', 'cpu', 'data', 'fsize', 'locks', 'memlock', 'msgqueue', 'nice', 'nofile', 'nproc', 'rss', 'rtprio', 'rttime', 'sigpending', 'stack'];

/** Docker's --ulimit `name=soft[:hard]` (hard defaults to soft). */
function parseUlimit(spec: string): { Name: string; Hard: number; Soft: number } {
  const bad = (why: string): never => {
    throw new InvalidArgumentError(`invalid argument "${spec}" for "--ulimit" flag: ${why}`);
  };
  const eq = spec.indexOf('=');
  if (eq <= 0) bad(`invalid ulimit argument: ${spec}`);
  const name = spec.slice(0, eq);
  if (!ULIMITS.includes(name)) bad(`invalid ulimit type: ${name}`);
  const [softText, hardText] = spec.slice(eq + 1).split(':', 2) as [string, string | undefined];
  const soft = Number(softText);
  const hard = hardText === undefined ? soft : Number(hardText);
  if (!/^-?\d+$/.test(softText) || (hardText !== undefined && !/^-?\d+$/.test(hardText))) bad(`invalid ulimit argument: ${spec}`);
  if (soft > hard) bad(`ulimit soft limit must be less than or equal to hard limit: ${soft} > ${hard}`);
  // the docker CLI's key order, which inspect shows back
  return { Name: name, Hard: hard, Soft: soft };
}
