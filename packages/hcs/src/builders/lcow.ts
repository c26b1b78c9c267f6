import { UnsupportedError } from '@berth/image-format';
import type { ContainerSpec, UserSpec } from '@berth/runtime';
import { SCHEMA_V21, type ProcessParameters, type SchemaVersion } from '../types.js';
import type { LcowProcessParameters } from '../gcs/messages.js';
import { mergeEnvironment } from './process.js';

/** Where the LCOW GCS keeps containers (hcsshim guestpath.LCOWRootPrefixInUVM). */
export const LCOW_ROOT_IN_UVM = '/run/gcs/c';

/** The OCI runtime spec subset Berth hands to the Linux guest. */
export interface LinuxOciSpec {
  ociVersion: string;
  process: {
    terminal: boolean;
    consoleSize?: { height: number; width: number };
    user: { uid: number; gid: number; username?: string };
    args: string[];
    env: string[];
    cwd: string;
  };
  root: { path: string; readonly?: boolean };
  hostname?: string;
  mounts: { destination: string; type?: string; source?: string; options?: string[] }[];
  linux: { namespaces: { type: string; path?: string }[]; cgroupsPath?: string };
  /** Only the HCN namespace whose adapters the GCS moves into the container's (hcsshim setWindowsNetworkNamespace). */
  windows?: { network: { networkNamespace: string } };
}

/** An OCI user: numeric ids as they are, a name left to the guest (`username`), which reads the image's /etc/passwd. */
export function lcowOciUser(user: UserSpec | undefined): LinuxOciSpec['process']['user'] {
  return typeof user === 'object'
    ? { uid: user.uid, gid: user.gid }
    : user && /^\d+(:\d+)?$/.test(user)
      ? { uid: Number(user.split(':')[0]), gid: Number(user.split(':')[1] ?? user.split(':')[0]) }
      : { uid: 0, gid: 0, ...(user ? { username: user } : {}) };
}

/**
 * The parameters of a process the LCOW GCS runs (hcsshim lcowProcessParameters): the pipes
 * and console of the HCS ProcessParameters; an exec also carries its OCI process, the
 * container's init does not (the GCS runs the spec's).
 */
export function lcowProcessParameters(p: ProcessParameters, init: boolean): LcowProcessParameters {
  const pipes: ProcessParameters = {
    ...(p.EmulateConsole ? { EmulateConsole: true } : {}),
    ...(p.ConsoleSize ? { ConsoleSize: p.ConsoleSize } : {}),
    ...(p.CreateStdInPipe ? { CreateStdInPipe: true } : {}),
    ...(p.CreateStdOutPipe ? { CreateStdOutPipe: true } : {}),
    ...(p.CreateStdErrPipe ? { CreateStdErrPipe: true } : {}),
  };
  if (init) return pipes;
  return {
    ...pipes,
    OciProcess: {
      terminal: p.EmulateConsole ?? false,
      ...(p.EmulateConsole && p.ConsoleSize ? { consoleSize: { height: p.ConsoleSize[0]!, width: p.ConsoleSize[1]! } } : {}),
      user: lcowOciUser(p.User),
      args: [...(p.CommandArgs ?? [])],
      env: Object.entries(p.Environment ?? {}).map(([k, v]) => `${k}=${v}`),
      cwd: p.WorkingDirectory || '/',
    },
  };
}

/** The body of the GCS Create request for a Linux container (hcsshim hcsdoc_lcow.go linuxHostedSystem). */
export interface LinuxHostedSystem {
  SchemaVersion: SchemaVersion;
  OciBundlePath: string;
  OciSpecification: LinuxOciSpec;
  ScratchDirPath: string;
}

export interface LcowContainerInput {
  spec: ContainerSpec;
  /** Guest paths of mapped host directories (Plan9 or SCSI), index by index with spec.mounts. */
  mountPaths?: string[];
  /** The guest directory of the container's scratch (on a SCSI disk of the UVM). */
  scratchDirPath: string;
  /** The HCN namespace whose adapters the guest gave the namespace of this id (none: the container's network is its own, empty). */
  namespaceId?: string;
}

/**
 * The container request sent to the LCOW guest's GCS: the OCI spec with the rootfs at
 * `/run/gcs/c/<id>/rootfs` (the GCS overlays the layers there). A named user is left to
 * the guest (`username`), which reads the image's /etc/passwd, as for a Linux host.
 */
export function lcowContainerRequest(input: LcowContainerInput): LinuxHostedSystem {
  const { spec } = input;
  const bundle = `${LCOW_ROOT_IN_UVM}/${spec.id}`;
  const ociUser = lcowOciUser(spec.process.user ?? spec.image?.user);
  const env = [...mergeEnvironment(spec.image?.env, spec.process.env, 'linux')].map(([k, v]) => `${k}=${v}`);
  const mounts: LinuxOciSpec['mounts'] = [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
  ];
  (spec.mounts ?? []).forEach((m, i) => {
    if (m.type === 'tmpfs') mounts.push({ destination: m.destination, type: 'tmpfs', source: 'tmpfs', options: m.options ?? [] });
    else {
      const source = input.mountPaths?.[i];
      if (!source) throw new UnsupportedError(`mount ${m.destination}: no guest path for host directory ${m.source ?? ''}`);
      mounts.push({ destination: m.destination, type: 'bind', source, options: ['rbind', m.readonly ? 'ro' : 'rw'] });
    }
  });
  return {
    SchemaVersion: { ...SCHEMA_V21 },
    OciBundlePath: bundle,
    OciSpecification: {
      ociVersion: '1.1.0',
      process: {
        terminal: spec.process.tty ?? false,
        ...(spec.process.tty && spec.process.terminalSize ? { consoleSize: { ...spec.process.terminalSize } } : {}),
        user: ociUser,
        args: [...spec.process.args],
        env,
        cwd: spec.process.cwd || spec.image?.workingDir || '/',
      },
      root: { path: `${bundle}/rootfs`, ...(spec.security?.readonlyRootfs ? { readonly: true } : {}) },
      ...(spec.hostname ? { hostname: spec.hostname } : {}),
      mounts,
      linux: {
        namespaces: [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'network' }],
        cgroupsPath: `/containers/${spec.id}`,
      },
      ...(input.namespaceId ? { windows: { network: { networkNamespace: input.namespaceId } } } : {}),
    },
    ScratchDirPath: input.scratchDirPath,
  };
}
