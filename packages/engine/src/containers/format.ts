import { shownLinks } from './links.js';
import type { ContainerInspect, ContainerSummary, MountPoint, Port, PortMap } from '../docker-types.js';
import { statusText } from '../status-text.js';
import { MASKED_PATHS, READONLY_PATHS } from '@berth/runtime';
import { strSlice } from '../container-config.js';
import { NO_TIME, type ContainerRecord } from './record.js';
import { logConfigOf } from './log-config.js';

export function commandLine(r: ContainerRecord): string {
  return [r.path, ...r.args].map((a) => (/\s/.test(a) ? `"${a}"` : a)).join(' ');
}

export function portList(r: ContainerRecord, running: boolean): Port[] {
  const out: Port[] = [];
  const published = new Set<string>();
  // as dockerd's: a container that is not running has no ports, published or exposed
  if (!running) return out;
  for (const p of r.ports) {
    published.add(`${p.containerPort}/${p.protocol}`);
    out.push({ IP: p.hostIp || '0.0.0.0', PrivatePort: p.containerPort, PublicPort: p.hostPort, Type: p.protocol });
  }
  for (const key of Object.keys(r.config.ExposedPorts ?? {})) {
    if (published.has(key)) continue;
    const [port, proto = 'tcp'] = key.split('/');
    out.push({ PrivatePort: Number(port), Type: proto as Port['Type'] });
  }
  return out;
}

export function portMap(r: ContainerRecord, running: boolean): PortMap {
  const map: PortMap = {};
  // dockerd fills the map at start and empties it at exit: created or exited shows {}
  if (!running) return map;
  for (const key of Object.keys(r.config.ExposedPorts ?? {})) map[key] = null;
  for (const p of r.ports) {
    const key = `${p.containerPort}/${p.protocol}`;
    (map[key] ??= []);
    map[key]!.push({ HostIp: p.hostIp || '0.0.0.0', HostPort: String(p.hostPort) });
  }
  return map;
}

export function summary(r: ContainerRecord, imageName: string): ContainerSummary {
  const running = r.state.status === 'running' || r.state.status === 'paused';
  return {
    Id: r.id,
    Names: ['/' + r.name],
    Image: imageName,
    ImageID: r.imageId,
    Command: commandLine(r),
    Created: Math.floor(Date.parse(r.created) / 1000),
    Ports: portList(r, running),
    Labels: r.config.Labels ?? {},
    State: r.state.status,
    Status: statusText({ status: r.state.status, exitCode: r.state.exitCode, startedAt: r.state.startedAt, finishedAt: r.state.finishedAt, health: r.state.health?.Status }),
    HostConfig: { NetworkMode: r.hostConfig.NetworkMode || 'bridge' },
    NetworkSettings: { Networks: r.networks },
    Mounts: r.mounts,
  };
}

export function inspect(r: ContainerRecord, opts: { execIds: string[]; driverName: string; rootDir: string; sizeRw?: number }): ContainerInspect {
  const s = r.state;
  const running = s.status === 'running' || s.status === 'paused';
  const primary = Object.values(r.networks)[0];
  const net = (running ? primary : undefined) ?? {};
  return {
    Id: r.id,
    Created: r.created,
    Path: r.path,
    Args: r.args,
    State: {
      Status: s.status,
      Running: running,
      Paused: s.status === 'paused',
      Restarting: s.status === 'restarting',
      OOMKilled: s.oomKilled,
      Dead: s.status === 'dead',
      Pid: running ? s.pid : 0,
      ExitCode: s.exitCode,
      Error: s.error,
      StartedAt: s.startedAt || NO_TIME,
      FinishedAt: s.finishedAt || NO_TIME,
      ...(s.health ? { Health: s.health } : {}),
    },
    Image: r.imageId,
    ResolvConfPath: `${opts.rootDir}/containers/${r.id}/resolv.conf`,
    HostnamePath: `${opts.rootDir}/containers/${r.id}/hostname`,
    HostsPath: `${opts.rootDir}/containers/${r.id}/hosts`,
    LogPath: r.logPath,
    Name: '/' + r.name,
    RestartCount: r.restartCount,
    Driver: opts.driverName,
    Platform: r.platform.split('/')[0] ?? 'linux',
    MountLabel: '',
    ProcessLabel: '',
    AppArmorProfile: '',
    ExecIDs: opts.execIds.length > 0 ? opts.execIds : null,
    HostConfig: withHostDefaults(r),
    GraphDriver: { Name: opts.driverName, Data: null },
    ...(opts.sizeRw !== undefined ? { SizeRw: opts.sizeRw } : {}),
    Mounts: r.mounts,
    Config: { ...r.config, Cmd: strSlice(r.config.Cmd) ?? null, Entrypoint: strSlice(r.config.Entrypoint) ?? null },
    NetworkSettings: {
      Bridge: '',
      SandboxID: running ? r.id : '',
      SandboxKey: running ? r.sandboxKey : '',
      Ports: portMap(r, running),
      HairpinMode: false,
      LinkLocalIPv6Address: '',
      LinkLocalIPv6PrefixLen: 0,
      SecondaryIPAddresses: null,
      SecondaryIPv6Addresses: null,
      EndpointID: net.EndpointID ?? '',
      Gateway: net.Gateway ?? '',
      GlobalIPv6Address: net.GlobalIPv6Address ?? '',
      GlobalIPv6PrefixLen: net.GlobalIPv6PrefixLen ?? 0,
      IPAddress: net.IPAddress ?? '',
      IPPrefixLen: net.IPPrefixLen ?? 0,
      IPv6Gateway: net.IPv6Gateway ?? '',
      MacAddress: net.MacAddress ?? '',
      Networks: running
        ? r.networks
        : Object.fromEntries(
            Object.entries(r.networks).map(([k, v]) => [
              k,
              { ...v, EndpointID: '', Gateway: '', IPAddress: '', IPPrefixLen: 0, MacAddress: r.macs?.[k] ?? '', ...(v.GlobalIPv6Address !== undefined ? { GlobalIPv6Address: '', GlobalIPv6PrefixLen: 0, IPv6Gateway: '' } : {}) },
            ]),
          ),
    },
  };
}

function withHostDefaults(r: ContainerRecord): ContainerInspect['HostConfig'] {
  const h = r.hostConfig;
  return {
    Binds: h.Binds ?? null,
    ContainerIDFile: h.ContainerIDFile ?? '',
    LogConfig: logConfigOf(h),
    NetworkMode: h.NetworkMode || 'bridge',
    PortBindings: h.PortBindings ?? null,
    RestartPolicy: { Name: h.RestartPolicy?.Name ?? '', MaximumRetryCount: h.RestartPolicy?.MaximumRetryCount ?? 0 },
    AutoRemove: h.AutoRemove ?? false,
    VolumeDriver: h.VolumeDriver ?? '',
    VolumesFrom: h.VolumesFrom ?? null,
    ConsoleSize: h.ConsoleSize ?? [0, 0],
    CapAdd: h.CapAdd ?? null,
    CapDrop: h.CapDrop ?? null,
    CgroupnsMode: h.CgroupnsMode ?? 'private',
    Dns: h.Dns ?? null,
    DnsOptions: h.DnsOptions ?? null,
    DnsSearch: h.DnsSearch ?? null,
    ExtraHosts: h.ExtraHosts ?? null,
    Links: shownLinks(r),
    GroupAdd: h.GroupAdd ?? null,
    IpcMode: h.IpcMode ?? 'private',
    PidMode: h.PidMode ?? '',
    Privileged: h.Privileged ?? false,
    PublishAllPorts: h.PublishAllPorts ?? false,
    ReadonlyRootfs: h.ReadonlyRootfs ?? false,
    SecurityOpt: h.SecurityOpt ?? null,
    UTSMode: h.UTSMode ?? '',
    UsernsMode: h.UsernsMode ?? '',
    ShmSize: h.ShmSize ?? 67108864,
    Runtime: h.Runtime ?? 'runc',
    Isolation: h.Isolation ?? '',
    Memory: h.Memory ?? 0,
    MemorySwap: h.MemorySwap ?? 0,
    NanoCpus: h.NanoCpus ?? 0,
    CpuShares: h.CpuShares ?? 0,
    CpuPeriod: h.CpuPeriod ?? 0,
    CpuQuota: h.CpuQuota ?? 0,
    CpusetCpus: h.CpusetCpus ?? '',
    CpusetMems: h.CpusetMems ?? '',
    PidsLimit: h.PidsLimit ?? null,
    Devices: h.Devices ?? null,
    Ulimits: h.Ulimits ?? null,
    // the rest of what dockerd shows: what the client set, else dockerd's zero value
    Cgroup: h.Cgroup ?? '',
    OomScoreAdj: h.OomScoreAdj ?? 0,
    CgroupParent: h.CgroupParent ?? '',
    BlkioWeight: h.BlkioWeight ?? 0,
    BlkioWeightDevice: h['BlkioWeightDevice'] ?? null,
    BlkioDeviceReadBps: h['BlkioDeviceReadBps'] ?? null,
    BlkioDeviceWriteBps: h['BlkioDeviceWriteBps'] ?? null,
    BlkioDeviceReadIOps: h['BlkioDeviceReadIOps'] ?? null,
    BlkioDeviceWriteIOps: h['BlkioDeviceWriteIOps'] ?? null,
    CpuRealtimePeriod: h.CpuRealtimePeriod ?? 0,
    CpuRealtimeRuntime: h.CpuRealtimeRuntime ?? 0,
    DeviceCgroupRules: h.DeviceCgroupRules ?? null,
    DeviceRequests: h['DeviceRequests'] ?? null,
    KernelMemory: h['KernelMemory'] ?? 0,
    KernelMemoryTCP: h['KernelMemoryTCP'] ?? 0,
    MemoryReservation: h.MemoryReservation ?? 0,
    MemorySwappiness: h.MemorySwappiness ?? null,
    OomKillDisable: h.OomKillDisable ?? false,
    CpuCount: h['CpuCount'] ?? 0,
    CpuPercent: h['CpuPercent'] ?? 0,
    IOMaximumIOps: h['IOMaximumIOps'] ?? 0,
    IOMaximumBandwidth: h['IOMaximumBandwidth'] ?? 0,
    // the paths the runtime masks / makes read-only (none when privileged), as dockerd shows them
    MaskedPaths: h.Privileged ? null : (h.MaskedPaths ?? MASKED_PATHS),
    ReadonlyPaths: h.Privileged ? null : (h.ReadonlyPaths ?? READONLY_PATHS),
    ...(h.Init !== undefined && h.Init !== null ? { Init: h.Init } : {}),
    ...(h.Sysctls ? { Sysctls: h.Sysctls } : {}),
    Mounts: h.Mounts ?? undefined,
    Tmpfs: h.Tmpfs ?? undefined,
  } as ContainerInspect['HostConfig'];
}

export function mountPoints(mounts: MountPoint[]): MountPoint[] {
  return mounts;
}
