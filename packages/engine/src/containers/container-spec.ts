// Pure: a container's record (Docker's Config and HostConfig as created) and what the
// start resolved on the host, to the ContainerSpec the runtime driver creates the run from.
// Docker's defaults and flag semantics live here, so a driver only learns what to do.
import { InvalidArgumentError } from '@berth/image-format';
import type { ContainerSpec, MountSpec, PortMapping } from '@berth/runtime';
import { normaliseSignal, type PublishedPort } from '../container-config.js';
import { runNetworks } from './endpoints.js';
import { withLinkEnv } from './links.js';
import { INIT_PATH_IN_CONTAINER } from './init-binary.js';
import type { ContainerRecord } from './record.js';
import type { RootfsMount } from './snapshot-port.js';
import { ID_LABEL, ROOT_LABEL } from './context.js';

/** What a start resolved before the driver is asked: none of it is in the record. */
export interface RunInputs {
  /** The driver's id of this run. */
  runtimeId: string;
  /** The snapshot's mounts: the container's root. */
  rootfs: RootfsMount[];
  /** Published ports to set up; host port 0 lets the network driver pick one. */
  ports: PublishedPort[];
  /** The host's init binary when HostConfig.Init (Docker's --init). */
  initBinary?: string;
  /** Legacy links' environment and /etc/hosts lines (default bridge only). */
  links: { env: string[]; hosts: string[] };
  /** daemon.json `dns`, for default-bridge containers that name no server. */
  defaultDns: string[];
  logLimits?: { maxSize: number; maxFiles: number };
  /** The engine's root, recorded in a label so a sweep knows its own runs. */
  engineRoot: string;
  /** The run whose PID namespace this one joins (`PidMode: container:<id>`, resolved at start). */
  pidNamespaceOf?: string;
}

export function containerSpec(r: ContainerRecord, run: RunInputs): ContainerSpec {
  const h = r.hostConfig;
  const tty = r.config.Tty ?? false;
  const openStdin = r.config.OpenStdin ?? false;
  const networkMode = h.NetworkMode || 'bridge';
  const groupAdd = h.GroupAdd ?? [];
  const securityOpt = h.SecurityOpt ?? [];
  const rlimits = (h.Ulimits ?? []).map((u) => ({ type: u.Name, soft: u.Soft, hard: u.Hard }));
  const sysctls = h.Sysctls ?? {};
  const hostNamespaces = (['pid', 'ipc', 'uts'] as const).filter((ns) => ({ pid: h.PidMode, ipc: h.IpcMode, uts: h.UTSMode })[ns] === 'host');
  const deviceCgroupRules = h.DeviceCgroupRules ?? [];
  // the engine's registry picks the driver from the image's OS and the isolation
  const [os, architecture = 'amd64'] = r.platform.split('/');
  const isolation = h.Isolation?.toLowerCase();
  return {
    id: run.runtimeId,
    ...(os === 'linux' || os === 'windows' ? { platform: { os, architecture } } : {}),
    ...(isolation === 'default' || isolation === 'process' || isolation === 'hyperv' ? { isolation } : {}),
    process: {
      args: processArgv(r, run.initBinary !== undefined),
      env: processEnv(r, run.links.env),
      cwd: r.config.WorkingDir || '/',
      ...(r.config.User ? { user: r.config.User } : {}),
      tty,
      stdin: openStdin,
      // Docker closes a container's stdin after its first client only with StdinOnce and no TTY
      ...(openStdin && (!(r.config.StdinOnce ?? false) || tty) ? { keepStdinOpen: true } : {}),
      ...(h.ConsoleSize && h.ConsoleSize[0] > 0 ? { terminalSize: { height: h.ConsoleSize[0], width: h.ConsoleSize[1] } } : {}),
      ...(rlimits.length > 0 ? { rlimits } : {}),
      ...(groupAdd.length > 0 ? { groupAdd } : {}),
    },
    ...(hostNamespaces.length > 0 ? { hostNamespaces } : {}),
    ...(run.pidNamespaceOf !== undefined ? { pidNamespaceOf: run.pidNamespaceOf } : {}),
    ...(Object.keys(sysctls).length > 0 ? { sysctls } : {}),
    ...(r.namespaceHolder ? { namespaceHolder: true } : {}),
    hostname: r.config.Hostname ?? r.id.slice(0, 12),
    ...(r.config.Domainname ? { domainname: r.config.Domainname } : {}),
    rootfs: { mounts: run.rootfs.map((m) => ({ type: m.type, source: m.source, options: m.options })), readonly: h.ReadonlyRootfs ?? false },
    mounts: mountSpecs(r, run.initBinary),
    devices: (h.Devices ?? []).map((dv) => ({ pathOnHost: dv.PathOnHost, pathInContainer: dv.PathInContainer || dv.PathOnHost, permissions: dv.CgroupPermissions || 'rwm' })),
    ...(deviceCgroupRules.length > 0 ? { deviceCgroupRules } : {}),
    resources: resources(r),
    network: {
      mode: networkMode === 'host' || networkMode === 'none' || networkMode.startsWith('container:') ? networkMode : 'bridge',
      networks: runNetworks(r),
      ports: run.ports.map(
        (p): PortMapping => ({
          ...(p.hostIp ? { hostIp: p.hostIp } : {}),
          hostPort: p.hostPort,
          containerPort: p.containerPort,
          protocol: p.protocol === 'udp' ? 'udp' : 'tcp',
        }),
      ),
      dns: {
        // the default bridge has no embedded DNS: daemon.json's servers go in its containers' resolv.conf, as Docker's
        servers: h.Dns?.length ? h.Dns : ['', 'bridge', 'default'].includes(h.NetworkMode ?? '') ? run.defaultDns : [],
        search: h.DnsSearch ?? [],
        options: h.DnsOptions ?? [],
      },
      extraHosts: [...run.links.hosts, ...(h.ExtraHosts ?? [])],
    },
    security: {
      privileged: h.Privileged ?? false,
      capAdd: h.CapAdd ?? [],
      capDrop: h.CapDrop ?? [],
      readonlyRootfs: h.ReadonlyRootfs ?? false,
      ...(securityOpt.includes('no-new-privileges') || securityOpt.includes('no-new-privileges:true') ? { noNewPrivileges: true } : {}),
      ...seccompChoice(securityOpt),
      // a client's own lists (the CRI's masked_paths) replace the defaults, as in dockerd
      ...(h.MaskedPaths ? { maskedPaths: h.MaskedPaths } : {}),
      ...(h.ReadonlyPaths ? { readonlyPaths: h.ReadonlyPaths } : {}),
    },
    labels: { ...(r.config.Labels ?? {}), [ROOT_LABEL]: run.engineRoot, [ID_LABEL]: r.id },
    stopSignal: normaliseSignal(r.config.StopSignal),
    logPath: r.logPath,
    ...(run.logLimits ? { logLimits: run.logLimits } : {}),
  };
}

/** Docker's --init runs the process under a small init (PID 1 reaps zombies and forwards signals). */
function processArgv(r: ContainerRecord, init: boolean): string[] {
  const argv = [r.path, ...r.args];
  return init ? [INIT_PATH_IN_CONTAINER, '--', ...argv] : argv;
}

function processEnv(r: ContainerRecord, linkEnv: string[]): string[] {
  // `-e FOO` with FOO unset where the client ran arrives as a bare name: not set, as with Docker
  let env = (r.config.Env ?? []).filter((e) => e.includes('='));
  if (!env.some((e) => e.startsWith('HOSTNAME='))) env = [...env, `HOSTNAME=${r.config.Hostname}`];
  if (r.config.Tty && !env.some((e) => e.startsWith('TERM='))) env = [...env, 'TERM=xterm'];
  return withLinkEnv(linkEnv, env);
}

function mountSpecs(r: ContainerRecord, initBinary: string | undefined): MountSpec[] {
  const out = r.mounts.map((m): MountSpec => {
    if (m.Type !== 'tmpfs') return { type: 'bind', source: m.Source, destination: m.Destination, options: ['rbind', ...(m.Propagation ? [m.Propagation] : [])], readonly: !m.RW };
    // a tmpfs' Mode is its --tmpfs options, `ro` among them possibly
    const options = ['nosuid', 'nodev', ...(m.Mode ? m.Mode.split(',') : [])];
    return { type: 'tmpfs', destination: m.Destination, options: options.filter((o) => o !== 'ro' && o !== 'rw'), readonly: options.includes('ro') };
  });
  if (initBinary !== undefined) out.push({ type: 'bind', source: initBinary, destination: INIT_PATH_IN_CONTAINER, options: ['bind'], readonly: true });
  return out;
}

function resources(r: ContainerRecord): NonNullable<ContainerSpec['resources']> {
  const h = r.hostConfig;
  // Docker's --cpus is a quota over a 100 ms period
  const quota = h.NanoCpus ? Math.round((h.NanoCpus / 1e9) * 100000) : h.CpuQuota || undefined;
  return {
    ...(h.Memory ? { memory: h.Memory } : {}),
    ...(h.MemorySwap ? { memorySwap: h.MemorySwap } : {}),
    ...(quota ? { cpuQuota: quota, cpuPeriod: h.NanoCpus ? 100000 : h.CpuPeriod || 100000 } : {}),
    ...(h.CpuShares ? { cpuShares: h.CpuShares } : {}),
    ...(h.PidsLimit && h.PidsLimit > 0 ? { pidsLimit: h.PidsLimit } : {}),
    ...(h.CpusetCpus ? { cpusetCpus: h.CpusetCpus } : {}),
    ...(h.MemorySwappiness !== undefined && h.MemorySwappiness !== null && h.MemorySwappiness >= 0 ? { memorySwappiness: h.MemorySwappiness } : {}),
    ...(h.OomScoreAdj ? { oomScoreAdj: h.OomScoreAdj } : {}),
  };
}

/**
 * `--security-opt seccomp=unconfined` or `seccomp=<profile JSON>` (the docker CLI sends
 * the file's content; the CRI a Localhost profile's): the driver's default otherwise.
 */
function seccompChoice(securityOpt: string[]): { seccomp?: 'unconfined' | { profile: unknown } } {
  const value = securityOpt.find((o) => o.startsWith('seccomp=') || o.startsWith('seccomp:'))?.slice('seccomp='.length);
  if (value === undefined || value === 'default' || value === 'builtin') return {};
  if (value === 'unconfined') return { seccomp: 'unconfined' };
  try {
    return { seccomp: { profile: JSON.parse(value) } };
  } catch (err) {
    throw new InvalidArgumentError(`Decoding seccomp profile failed: ${(err as Error).message}`);
  }
}
