import { mkdir, realpath, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ConflictError, InvalidArgumentError, UnsupportedError } from '@berth/image-format';
import { resolveInRoot } from '@berth/layer-store';
import { isValidContainerId, type ContainerSpec, type ContainerState } from '@berth/runtime';
import { launchConmon } from '../conmon/launch.js';
import { hostDevices, parseDeviceCgroupRule, resolveDevices } from '../devices.js';
import { writeEtcFiles } from '../host-files.js';
import { buildOciConfig, mergeEnv, type OciConfig } from '../oci/config.js';
import { runRuntime } from '../oci/runtime.js';
import { makeBindMountPoints } from '../rootfs/mount-points.js';
import { mountRootfs, unmountRootfs } from '../rootfs/mount.js';
import { checkBindPropagation } from '../rootfs/propagation.js';
import { SECCOMP_BPF_ANNOTATION } from '../security/seccomp-cache.js';
import type { OciSeccomp } from '../security/seccomp.js';
import { resolveUser } from '../user/resolve-user.js';
import type { DriverContext } from './context.js';
import { createPauseHolder, runsAsPause } from './namespace-holder.js';
import { attachedAddresses, firstNamespace, startAttach, type PendingAttach, type SettledAttach } from './network-attach.js';
import { containerHostname, now, toState, type ContainerRecord } from './records.js';

/**
 * Creates a container: its bundle (rootfs, /etc files, config.json) in the container's
 * directory, its network attachment, and conmon running the runtime's create. On any
 * failure everything made so far is undone.
 */
export async function createContainer(ctx: DriverContext, spec: ContainerSpec): Promise<ContainerState> {
  if (!isValidContainerId(spec.id)) throw new InvalidArgumentError(`invalid container id ${JSON.stringify(spec.id)}`);
  if (spec.isolation === 'hyperv') throw new UnsupportedError('hyperv isolation is not available on Linux');
  if (spec.platform && spec.platform.os !== 'linux') throw new UnsupportedError(`cannot run ${spec.platform.os} containers on Linux`);
  const args = spec.process.args;
  if (args.length === 0) throw new InvalidArgumentError('process.args must not be empty');
  if (runsAsPause(spec)) return createPauseHolder(ctx, spec);
  await checkBindPropagation(spec.mounts ?? []);
  const bundle = await ctx.records.makeDir(spec.id);
  let mountedRootfs = false;
  let networked = false;
  let pending: PendingAttach | undefined;
  try {
    // network
    const mode = spec.network?.mode ?? 'none';
    let netns: 'new' | 'host' | { path: string } = 'new';
    let ips: string[] = [];
    let nameservers: string[] = [];
    const hostname = containerHostname(spec);
    if (mode === 'host') netns = 'host';
    else if (mode === 'none') netns = 'new';
    else if (mode.startsWith('container:')) {
      const other = await ctx.records.current(mode.slice('container:'.length));
      if (other.status !== 'running') throw new ConflictError(`container ${other.id} is not running`);
      netns = { path: `/proc/${other.pid}/ns/net` };
    } else if (mode === 'bridge' || ctx.options.network) {
      if (!ctx.options.network) throw new UnsupportedError('bridge networking needs a network manager');
      networked = true;
      // CNI ADD runs while the rootfs is prepared and the runtime creates the container in
      // the new namespace; it has to be done before create returns (so before start).
      pending = startAttach(ctx.options.network, spec, mode, hostname, bundle);
    }
    let pidns: { path: string } | undefined;
    if (spec.pidNamespaceOf !== undefined) {
      const other = await ctx.records.current(spec.pidNamespaceOf);
      if (other.status !== 'running') throw new ConflictError(`container ${other.id} is not running`);
      pidns = { path: `/proc/${other.pid}/ns/pid` };
    }
    // rootfs
    let rootfs: string;
    if (spec.rootfs.path) {
      rootfs = await realpath(spec.rootfs.path);
    } else if (spec.rootfs.mounts && spec.rootfs.mounts.length > 0) {
      rootfs = join(bundle, 'rootfs');
      await mkdir(rootfs);
      mountedRootfs = true;
      await mountRootfs(spec.rootfs.mounts, rootfs, bundle);
    } else {
      throw new UnsupportedError('rootfs needs a path or mounts on Linux (layers are for Windows)');
    }
    const cwd = spec.process.cwd || spec.image?.workingDir || '/';
    if (!cwd.startsWith('/')) throw new InvalidArgumentError(`working dir ${cwd} must be absolute`);
    const sec = spec.security ?? {};
    const extraRules = (spec.deviceCgroupRules ?? []).map(parseDeviceCgroupRule);
    // independent file work, at once: each step is a few thread-pool round trips
    const [user, devs] = await Promise.all([
      resolveUser(rootfs, spec.process.user ?? spec.image?.user, spec.process.groupAdd),
      sec.privileged ? hostDevices() : resolveDevices(spec.devices ?? []),
      (async () => mkdir(await resolveInRoot(rootfs, cwd), { recursive: true }))().catch(() => undefined),
      // mount points made by root here: a user-namespaced runtime could not create them
      ...['/etc/hostname', '/etc/hosts', '/etc/resolv.conf'].map(async (f) => {
        const target = await resolveInRoot(rootfs, f);
        await mkdir(dirname(target), { recursive: true }).catch(() => undefined);
        await writeFile(target, '', { flag: 'a' }).catch(() => undefined);
      }),
    ]);
    await makeBindMountPoints(rootfs, spec.mounts ?? []);
    const env = mergeEnv(spec.image?.env, spec.process.env, user.home);
    const takeAttachResult = (settled: SettledAttach): void => {
      pending = undefined;
      const a = attachedAddresses(settled);
      netns = { path: a.netnsPath };
      ips = a.ips;
      nameservers = a.nameservers;
    };
    if (pending) {
      const first = await firstNamespace(pending);
      if ('path' in first) netns = { path: first.path };
      else takeAttachResult(first);
    }
    // written again in place (the bind mounts keep the inode) once the addresses are known
    const etcFiles = await writeEtcFiles(bundle, spec, hostname, ips, nameservers);
    const cgroupsPath = `${ctx.options.cgroupParent ?? '/berth'}/${spec.id}`;
    const config: OciConfig = buildOciConfig({
      spec: { ...spec, hostname },
      rootfsPath: rootfs,
      user,
      env,
      cwd,
      args,
      etcFiles,
      netns,
      ...(pidns ? { pidns } : {}),
      cgroupsPath,
      swapLimitSupported: ctx.swapSupported,
      swappinessSupported: ctx.cgroups.v1.has('memory'),
      devices: devs.devices,
      ...(ctx.hostCapabilities ? { hostCapabilities: ctx.hostCapabilities } : {}),
      deviceRules: [...devs.rules, ...extraRules],
      ...(ctx.hostNofileHard !== undefined ? { hostNofileHard: ctx.hostNofileHard } : {}),
    });
    let seccompDonation: string | undefined;
    const profile = config.linux.seccomp as OciSeccomp | undefined;
    if (ctx.seccompCache && profile) {
      const key = ctx.seccompCache.key(profile);
      const bpf = await ctx.seccompCache.lookup(key);
      if (bpf) config.annotations = { ...(config.annotations ?? {}), [SECCOMP_BPF_ANNOTATION]: bpf };
      else seccompDonation = key;
    }
    await writeFile(join(bundle, 'config.json'), JSON.stringify(config), { mode: 0o600 });
    await mkdir(join(bundle, 'persist'));
    const logPath = spec.logPath ?? (ctx.options.logDir ? join(ctx.options.logDir, `${spec.id}.log`) : join(bundle, 'ctr.log'));
    const launching = launchConmon({
      conmonPath: ctx.conmonPath,
      runtime: ctx.runtime,
      id: spec.id,
      bundle,
      logPath,
      exitDir: ctx.exitDir,
      socketDir: ctx.socketDir,
      persistDir: join(bundle, 'persist'),
      tty: spec.process.tty === true,
      stdin: spec.process.stdin === true,
      leaveStdinOpen: spec.process.keepStdinOpen === true,
    }).then(
      (ok) => ({ ok }),
      (err: unknown) => ({ err }),
    );
    // both settle before anything is undone: the catch below must not race a runtime create
    const [launched, settled] = await Promise.all([launching, pending?.attaching]);
    if (settled) takeAttachResult(settled);
    if (!('ok' in launched)) throw launched.err;
    const started = launched.ok;
    if (settled) await writeEtcFiles(bundle, spec, hostname, ips, nameservers);
    if (seccompDonation) await ctx.seccompCache?.donate(seccompDonation, ctx.runtime.root, spec.id);
    const rec: ContainerRecord = {
      id: spec.id,
      status: 'created',
      createdAt: now(),
      pid: started.pid,
      conmonPid: started.conmonPid,
      bundle,
      rootfs,
      mountedRootfs,
      logPath,
      ...(spec.logPath ? { callerLog: true } : {}),
      ...(spec.logLimits ? { logLimits: spec.logLimits } : {}),
      cgroupsPath,
      labels: { ...(spec.labels ?? {}) },
      tty: spec.process.tty === true,
      stdin: spec.process.stdin === true,
      keepStdinOpen: spec.process.keepStdinOpen === true,
      networked,
      ...(settled?.res?.ports.length ? { ports: settled.res.ports } : {}),
      env,
    };
    if (spec.stopSignal) rec.stopSignal = spec.stopSignal;
    await ctx.records.save(rec);
    ctx.emit('create', spec.id);
    return toState(rec);
  } catch (err) {
    await runRuntime(ctx.runtime, ['delete', '--force', spec.id]).catch(() => undefined);
    // an attach still running (the rootfs failed meanwhile) finishes before it is undone
    if (pending) await pending.attaching;
    if (networked) await ctx.options.network?.detach(spec.id).catch(() => undefined);
    if (mountedRootfs) await unmountRootfs(join(bundle, 'rootfs')).catch(() => undefined);
    await rm(bundle, { recursive: true, force: true });
    await rm(join(ctx.exitDir, spec.id), { force: true });
    await rm(join(ctx.socketDir, spec.id), { force: true });
    throw err;
  }
}
