import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BerthError, InvalidArgumentError, UnsupportedError } from '@berth/image-format';
import { isIpcSysctl, type ContainerSpec, type ContainerState } from '@berth/runtime';
import { processCgroupDirs, removeCgroup } from '../cgroups/layout.js';
import { writeEtcFiles } from '../host-files.js';
import { labelsAsAnnotations } from '../oci/config.js';
import { pauseDirectAvailable, startPauseDirect } from '../process/run-program.js';
import type { DriverContext } from './context.js';
import { attachedAddresses, firstNamespace, startAttach, type PendingAttach } from './network-attach.js';
import { containerHostname, now, pidAlive, toState, type ContainerRecord } from './records.js';

const CLONE_NEWNS = 0x00020000;
const CLONE_NEWUTS = 0x04000000;
const CLONE_NEWIPC = 0x08000000;
const CLONE_NEWNET = 0x40000000;

/**
 * Whether a namespace holder (a pod's sandbox) runs as the driver's own pause: where the
 * spawn helper can start it, and the holder joins no other container's namespaces.
 * Otherwise the runtime runs the spec's process as for any container.
 */
export function runsAsPause(spec: ContainerSpec): boolean {
  const mode = spec.network?.mode ?? 'none';
  return spec.namespaceHolder === true && !mode.startsWith('container:') && spec.pidNamespaceOf === undefined && !spec.security?.userns && pauseDirectAvailable();
}

/**
 * Creates a namespace holder as a pause process of the spawn helper's (pause-helper.ts)
 * rather than conmon and the OCI runtime: it needs no root filesystem, output, stdin or
 * exec, only its namespaces, cgroup, hostname and sysctls, and it is up in a few
 * milliseconds. Its monitor writes the exit file as conmon does, so the record's life
 * (refresh, wait, kill, delete, a restart of the daemon) is any container's.
 */
export async function createPauseHolder(ctx: DriverContext, spec: ContainerSpec): Promise<ContainerState> {
  const mode = spec.network?.mode ?? 'none';
  const shared = new Set(spec.hostNamespaces ?? []);
  const hostname = containerHostname(spec);
  const sysctls = sysctlSettings(spec.sysctls ?? {}, mode === 'host', shared.has('ipc'));
  const bundle = await ctx.records.makeDir(spec.id);
  const cgroupsPath = `${ctx.options.cgroupParent ?? '/berth'}/${spec.id}`;
  let pending: PendingAttach | undefined;
  let pid = 0;
  try {
    let flags = CLONE_NEWNS | (shared.has('ipc') ? 0 : CLONE_NEWIPC) | (shared.has('uts') ? 0 : CLONE_NEWUTS);
    let netnsPath = '';
    if (mode === 'none') flags |= CLONE_NEWNET;
    else if (mode !== 'host') {
      if (!ctx.options.network) throw new UnsupportedError('bridge networking needs a network manager');
      pending = startAttach(ctx.options.network, spec, mode, hostname, bundle);
    }
    const cgroupDirs = processCgroupDirs(ctx.cgroups, cgroupsPath);
    await Promise.all(cgroupDirs.map((d) => mkdir(d, { recursive: true })));
    if (pending) {
      const first = await firstNamespace(pending);
      netnsPath = 'path' in first ? first.path : attachedAddresses(first).netnsPath;
    }
    const settings = [
      `flags=${flags}`,
      `pidns=${shared.has('pid') ? 0 : 1}`,
      `netns=${netnsPath}`,
      // a shared UTS namespace is the host's name, and the host network's sandbox keeps it too
      `hostname=${mode !== 'host' && !shared.has('uts') ? hostname : ''}`,
      `name=${spec.id}`,
      ...cgroupDirs.map((d) => `cgroup=${d}/cgroup.procs`),
      ...sysctls,
    ];
    const starting = startPauseDirect(join(ctx.exitDir, spec.id), bundle, settings);
    if (!starting) throw new UnsupportedError('the spawn helper cannot start a pause process here');
    const [started, settled] = await Promise.all([starting.then((ok) => ({ ok }), (err: unknown) => ({ err })), pending?.attaching]);
    if (!('ok' in started)) throw started.err;
    const reported = pauseStarted(started.ok.message);
    pid = reported.pid;
    const addresses = settled ? attachedAddresses(settled) : { ips: [], nameservers: [] };
    const logPath = spec.logPath ?? join(bundle, 'ctr.log');
    await Promise.all([
      writeEtcFiles(bundle, spec, hostname, addresses.ips, addresses.nameservers),
      // a pause writes nothing: its log is empty, not missing
      writeFile(logPath, '', { flag: 'a' }),
    ]);
    // what runs, for those who read a container's runtime spec (the CRI's verbose status)
    await writeFile(join(bundle, 'config.json'), JSON.stringify(pauseSpec(spec, hostname, netnsPath, flags, cgroupsPath)), { mode: 0o600 });
    const rec: ContainerRecord = {
      id: spec.id,
      status: 'created',
      createdAt: now(),
      pid,
      conmonPid: reported.monitor,
      bundle,
      rootfs: '',
      mountedRootfs: false,
      logPath,
      ...(spec.logPath ? { callerLog: true } : {}),
      cgroupsPath,
      labels: { ...(spec.labels ?? {}) },
      tty: false,
      stdin: false,
      networked: pending !== undefined,
      ...(settled?.res?.ports.length ? { ports: settled.res.ports } : {}),
      env: [],
      ...(spec.stopSignal ? { stopSignal: spec.stopSignal } : {}),
      pause: true,
    };
    await ctx.records.save(rec);
    ctx.emit('create', spec.id);
    return toState(rec);
  } catch (err) {
    if (pid > 0 && pidAlive(pid)) process.kill(pid, 'SIGKILL');
    if (pending) {
      await pending.attaching;
      await ctx.options.network?.detach(spec.id).catch(() => undefined);
    }
    await removeCgroup(ctx.cgroups, cgroupsPath);
    await rm(bundle, { recursive: true, force: true });
    await rm(join(ctx.exitDir, spec.id), { force: true });
    throw err;
  }
}

/** The monitor's report: the pause's pid and its own, or why the pause could not be made. */
function pauseStarted(message: string): { pid: number; monitor: number } {
  let reason = message.trim() ? `unexpected report ${JSON.stringify(message.trim().slice(0, 200))}` : 'the pause process did not report';
  for (const line of message.split('\n')) {
    if (line.trim() === '') continue;
    try {
      const m = JSON.parse(line) as { data?: number; monitor?: number; message?: string };
      if (typeof m.data === 'number' && m.data > 0 && typeof m.monitor === 'number') return { pid: m.data, monitor: m.monitor };
      if (m.message) reason = m.message;
    } catch {
      reason = line;
    }
  }
  throw new BerthError('Internal', `creating the pod's pause process failed: ${reason}`);
}

/**
 * The sysctls as `sysctl=<path>=<value>` settings, written by the pause in its own
 * namespaces. Only namespaced ones, and not those of a namespace shared with the host:
 * as runc refuses them, since they would change the host's.
 */
function sysctlSettings(sysctls: Record<string, string>, hostNetwork: boolean, hostIpc: boolean): string[] {
  return Object.entries(sysctls).map(([key, value]) => {
    if (!/^[a-zA-Z0-9_-]+([./][a-zA-Z0-9_-]+)*$/.test(key)) throw new InvalidArgumentError(`invalid sysctl ${JSON.stringify(key)}`);
    const net = key.startsWith('net.');
    if (!net && !isIpcSysctl(key)) throw new InvalidArgumentError(`sysctl ${key} is not in a separate kernel namespace`);
    if ((net && hostNetwork) || (!net && hostIpc)) throw new InvalidArgumentError(`sysctl ${key} is not allowed in the host's ${net ? 'network' : 'IPC'} namespace`);
    if (/[\n\0]/.test(value)) throw new InvalidArgumentError(`invalid value for sysctl ${key}`);
    return `sysctl=/proc/sys/${key.replace(/\./g, '/')}=${value}`;
  });
}

/** An OCI-shaped description of the pause (what a runtime spec of it would say). */
function pauseSpec(spec: ContainerSpec, hostname: string, netnsPath: string, flags: number, cgroupsPath: string): object {
  const namespaces: { type: string; path?: string }[] = [{ type: 'mount' }];
  if (!(spec.hostNamespaces ?? []).includes('pid')) namespaces.push({ type: 'pid' });
  if (flags & CLONE_NEWIPC) namespaces.push({ type: 'ipc' });
  if (flags & CLONE_NEWUTS) namespaces.push({ type: 'uts' });
  if (flags & CLONE_NEWNET) namespaces.push({ type: 'network' });
  else if (netnsPath) namespaces.push({ type: 'network', path: netnsPath });
  const annotations = labelsAsAnnotations(spec.labels);
  return {
    ociVersion: '1.0.2',
    process: { args: ['pause'], user: { uid: 65534, gid: 65534 }, cwd: '/', noNewPrivileges: true },
    root: { path: 'tmpfs', readonly: true },
    ...(spec.network?.mode !== 'host' && flags & CLONE_NEWUTS ? { hostname } : {}),
    linux: { namespaces, cgroupsPath, ...(spec.sysctls && Object.keys(spec.sysctls).length > 0 ? { sysctl: { ...spec.sysctls } } : {}) },
    ...(annotations ? { annotations } : {}),
  };
}
