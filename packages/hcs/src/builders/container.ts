import { InvalidArgumentError, UnsupportedError } from '@berth/image-format';
import type { ContainerSpec, MountSpec } from '@berth/runtime';
import { SCHEMA_V21, type ComputeSystem, type Container, type HostedSystem, type Layer, type MappedDirectory, type MappedPipe, type RegistryValue } from '../types.js';

/** The Owner HCS records for Berth's compute systems (hcsshim: the shim's exe name). */
export const BERTH_OWNER = 'berthd';

/**
 * Berth's compute systems outlive the berthd that made them: a restarted berthd finds them
 * again (HcsEnumerateComputeSystems by Owner, HcsOpenComputeSystem), as driver-linux's
 * containers outlive it under conmon. hcsshim sets true because its shim, which holds the
 * handle, lives as long as the container; berthd deletes what it made itself.
 */
export const TERMINATE_ON_LAST_HANDLE_CLOSED = false;

/** hcsshim adds it to every container so a graceful shutdown is not cut off after 5 s. */
export const WAIT_TO_KILL_SERVICE_TIMEOUT: RegistryValue = Object.freeze({
  Key: { Hive: 'System', Name: 'ControlSet001\\Control' },
  Name: 'WaitToKillServiceTimeout',
  Type: 'String',
  StringValue: '2147483647',
}) as RegistryValue;

const VOLUME_GUID_PATH = /^\\\\\?\\Volume\{[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\}\\$/;

export function isVolumeGuidPath(p: string): boolean {
  return VOLUME_GUID_PATH.test(p);
}

/** Everything of a container document but its storage and mapped directories. */
export interface ContainerDocumentInput {
  spec: ContainerSpec;
  /** The read-only layers, topmost first (the base layer last). */
  layers: Layer[];
  /** The mounted scratch: `\\?\Volume{GUID}\` for process isolation. */
  scratchPath: string;
  /** HCN namespace the container joins. */
  namespaceId?: string;
  /** Logical processors of the host: `--cpus` is a share of them. */
  hostProcessors: number;
  owner?: string;
}

function isPipe(m: MountSpec): boolean {
  return (m.source ?? '').startsWith('\\\\.\\pipe\\');
}

/** Bind and volume mounts as MappedDirectories; `\\.\pipe\` sources as MappedPipes; tmpfs does not exist on Windows. */
export function mappedDirectories(spec: ContainerSpec, hostPath: (m: MountSpec, index: number) => string = (m) => m.source ?? ''): { dirs: MappedDirectory[]; pipes: MappedPipe[] } {
  const dirs: MappedDirectory[] = [];
  const pipes: MappedPipe[] = [];
  (spec.mounts ?? []).forEach((m, i) => {
    if (m.type === 'tmpfs') throw new UnsupportedError('tmpfs mounts are not supported on Windows');
    if (!m.source) throw new InvalidArgumentError(`mount ${m.destination} has no source`);
    if (isPipe(m)) {
      pipes.push({ ContainerPipeName: m.destination.replace(/^\\\\\.\\pipe\\/, ''), HostPath: m.source });
      return;
    }
    const ro = m.readonly || (m.options ?? []).includes('ro');
    dirs.push({ HostPath: hostPath(m, i), ContainerPath: m.destination, ...(ro ? { ReadOnly: true } : {}) });
  });
  return { dirs, pipes };
}

/**
 * Container.Processor and Memory as moby and hcsshim derive them: `--cpus` becomes
 * Maximum = NanoCPUs / hostProcessors / 1e5 (a share of 10000), CpuShares becomes Weight,
 * memory bytes become whole MiB. Count, Maximum and Weight are mutually exclusive.
 */
export function containerLimits(spec: ContainerSpec, hostProcessors: number): Pick<Container, 'Memory' | 'Processor'> {
  const r = spec.resources ?? {};
  const processor: Container['Processor'] = {};
  if (r.cpus) processor.Maximum = Math.max(1, Math.min(10000, Math.floor(r.cpus / hostProcessors / 1e5)));
  if (r.cpuShares && r.cpuShares !== 1024) {
    if (processor.Maximum !== undefined) throw new InvalidArgumentError('conflicting options: CPU shares and CPU maximum cannot both be set on Windows');
    processor.Weight = Math.max(1, Math.min(10000, r.cpuShares));
  }
  return { ...(r.memory ? { Memory: { SizeInMB: Math.floor(r.memory / (1024 * 1024)) } } : {}), Processor: processor };
}

function refuseLinuxOnly(spec: ContainerSpec): void {
  if (spec.security?.readonlyRootfs || spec.rootfs.readonly) throw new UnsupportedError('a read-only root filesystem is not supported by Windows containers');
}

/** The Container part (hcsshim createWindowsContainerDocument), with the key order hcsshim marshals. */
export function windowsContainer(input: ContainerDocumentInput, mapped: { dirs: MappedDirectory[]; pipes: MappedPipe[] }, withNetworking = true): Container {
  const { spec } = input;
  refuseLinuxOnly(spec);
  const limits = containerLimits(spec, input.hostProcessors);
  const search = spec.network?.dns?.search ?? [];
  const networking = withNetworking && (input.namespaceId || search.length > 0)
    ? { AllowUnqualifiedDnsQuery: true, ...(search.length ? { DnsSearchList: search.join(',') } : {}), ...(input.namespaceId ? { Namespace: input.namespaceId } : {}) }
    : undefined;
  return {
    ...(spec.hostname ? { GuestOs: { HostName: spec.hostname } } : {}),
    Storage: { Layers: input.layers.map((l) => ({ Id: l.Id, Path: l.Path })), Path: input.scratchPath },
    ...(mapped.dirs.length ? { MappedDirectories: mapped.dirs } : {}),
    ...(mapped.pipes.length ? { MappedPipes: mapped.pipes } : {}),
    ...(limits.Memory ? { Memory: limits.Memory } : {}),
    Processor: limits.Processor,
    ...(networking ? { Networking: networking } : {}),
    RegistryChanges: { AddValues: [{ ...WAIT_TO_KILL_SERVICE_TIMEOUT, Key: { ...WAIT_TO_KILL_SERVICE_TIMEOUT.Key } }] },
  };
}

/** HcsCreateComputeSystem's document of a process-isolated Windows Server container ("v2 Argon"). */
export function processContainerDocument(input: ContainerDocumentInput): ComputeSystem {
  if (!isVolumeGuidPath(input.scratchPath)) throw new InvalidArgumentError(`the scratch of a process-isolated container must be a volume GUID path, not ${input.scratchPath}`);
  if (input.layers.length === 0) throw new InvalidArgumentError('a Windows container needs at least its base layer');
  return {
    Owner: input.owner ?? BERTH_OWNER,
    SchemaVersion: { ...SCHEMA_V21 },
    Container: windowsContainer(input, mappedDirectories(input.spec)),
    ShouldTerminateOnLastHandleClosed: TERMINATE_ON_LAST_HANDLE_CLOSED,
  };
}

/**
 * The container of a Hyper-V (WCOW) utility VM, as the guest receives it: layers and
 * mapped directories are VSMB shares of the UVM (`vsmbPath(n)`), the scratch is a SCSI
 * disk mounted in the guest. Memory and processors are the UVM's, so none are set here.
 */
export function hostedContainerDocument(input: Omit<ContainerDocumentInput, 'hostProcessors'> & { mountPaths?: string[] }): HostedSystem {
  const container = windowsContainer({ ...input, spec: { ...input.spec, resources: {} }, hostProcessors: 1 }, mappedDirectories(input.spec, (m, i) => input.mountPaths?.[i] ?? m.source ?? ''));
  return { SchemaVersion: { ...SCHEMA_V21 }, Container: container };
}

/** The same container handed to HCS with the UVM as its host (HCS-owned guest connection). */
export function hostedComputeSystem(uvmId: string, hosted: HostedSystem, owner = BERTH_OWNER): ComputeSystem {
  return { Owner: owner, SchemaVersion: { ...SCHEMA_V21 }, HostingSystemId: uvmId, HostedSystem: hosted, ShouldTerminateOnLastHandleClosed: TERMINATE_ON_LAST_HANDLE_CLOSED };
}
