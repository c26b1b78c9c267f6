import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { chmod, mkdir, readdir, readFile, realpath, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { PassThrough, Writable, type Readable } from 'node:stream';
import {
  ConflictError,
  InvalidArgumentError,
  NotFoundError,
  UnsupportedError,
} from '@berth/image-format';
import {
  isValidContainerId,
  signalNumber,
  type AttachedStdio,
  type AttachOptions,
  type ContainerSpec,
  type ContainerState,
  type ContainerStats,
  type DeleteOptions,
  type ExecProcess,
  type ExecSpec,
  type ExitStatus,
  type LogEntry,
  type LogOptions,
  type RuntimeDriver,
  type RuntimeEvent,
  type TerminalSize,
  type EndpointAttachment,
  type EndpointOptions,
} from '@berth/runtime';
import { isFrozen, setFrozen } from './cgroups/freezer.js';
import { detectCgroups, removeCgroup, type CgroupMounts } from './cgroups/layout.js';
import { readCgroupStats, readOomKills, swapLimitSupported } from './cgroups/stats.js';
import { ATTACH_BRIDGE_SOURCE } from './conmon/attach-bridge.js';
import { ContainerLogs, writeWithBackpressure } from './conmon/container-logs.js';
import { readK8sLog } from './conmon/k8s-log.js';
import { removeLogFiles, reopenLog } from './conmon/log-files.js';
import { launchConmon } from './conmon/launch.js';
import { hostDevices, parseDeviceCgroupRule, resolveDevices } from './devices.js';
import { writeEtcFiles } from './host-files.js';
import { makeBindMountPoints } from './rootfs/mount-points.js';
import { buildOciConfig, mergeEnv, type OciConfig } from './oci/config.js';
import { findExecutable, prepareRuntime, runRuntime, type OciRuntime } from './oci/runtime.js';
import { mountRootfs, unmountRootfs } from './rootfs/mount.js';
import { resolveInRoot } from '@berth/layer-store';
import { resolveUser } from './user/resolve-user.js';
import { capabilitiesFromMask } from './security/capabilities.js';
import { SECCOMP_BPF_ANNOTATION, SeccompFilterCache } from './security/seccomp-cache.js';
import type { OciSeccomp } from './security/seccomp.js';
import { endedOrAfter, execFailureCode, RUNTIME_FAILED, TailTap } from './process/exec-failure.js';

/**
 * What the driver needs from a network driver (CniNetworkManager fits): the endpoint part
 * of @berth/runtime's NetworkDriver, plus the Linux namespace the container joins.
 */
export interface ContainerNetworker {
  attach(
    containerId: string,
    options: EndpointOptions & {
      /** Called when the namespace exists, before the plugins run (the runtime may create the container meanwhile). */
      onNamespace?: (netnsPath: string) => void;
    },
  ): Promise<EndpointAttachment & { netnsPath?: string }>;
  detach(containerId: string): Promise<void>;
}

export interface LinuxDriverOptions {
  /** Bundles, runtime state, exit files and the per-container records live here. */
  stateDir: string;
  /** `crun` (default), `runc`, or a path to a runtime binary with their CLI. */
  runtime?: string;
  /** Default: `conmon` on PATH. */
  conmonPath?: string;
  /** Where container logs go when the spec has no logPath. Default `<stateDir>/containers/<id>/ctr.log`. */
  logDir?: string;
  /** Parent of every container's cgroup. Default `/berth`. */
  cgroupParent?: string;
  /** Bridge networking; without it only `none`, `host` and `container:<id>` work. */
  network?: ContainerNetworker;
}

/** Persisted per container in `<stateDir>/containers/<id>/state.json`. */
interface ContainerRecord {
  id: string;
  status: 'created' | 'running' | 'stopped';
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  exitCode?: number;
  oomKilled?: boolean;
  pid: number;
  conmonPid: number;
  bundle: string;
  rootfs: string;
  /** Rootfs mounted by the driver from snapshotter mounts (unmount on delete). */
  mountedRootfs: boolean;
  logPath: string;
  /** The spec named the log: it is the caller's, delete() leaves it. */
  callerLog?: boolean;
  logLimits?: { maxSize: number; maxFiles: number };
  cgroupsPath: string;
  labels: Record<string, string>;
  tty: boolean;
  stdin: boolean;
  keepStdinOpen?: boolean;
  networked: boolean;
  /** The container process' env, the base of exec env. */
  env: string[];
  stopSignal?: string;
}

function now(): string {
  return new Date().toISOString();
}

/** Whether `pid` runs (a zombie waiting to be reaped counts as gone). */
function pidAlive(pid: number): boolean {
  if (!(pid > 0)) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

function runKey(rec: ContainerRecord): string {
  return `${rec.id}/${rec.conmonPid}`;
}

async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

/**
 * Runs containers with an OCI runtime (crun or runc) under conmon. Every container
 * is a bundle directory plus a JSON record in the state dir, so a new LinuxDriver on
 * the same state dir (after a crash or restart) finds the containers, their logs and
 * exit codes; conmon keeps them running and records the exit code meanwhile.
 */
export class LinuxDriver implements RuntimeDriver {
  readonly name: string;
  private readonly options: LinuxDriverOptions;
  private readonly stateDir: string;
  private readonly containersDir: string;
  private readonly exitDir: string;
  private readonly socketDir: string;
  private readonly emitter = new EventEmitter();
  private ready?: Promise<void>;
  private runtime!: OciRuntime;
  private conmonPath!: string;
  private cgroups!: CgroupMounts;
  private swapSupported = false;
  private hostNofileHard?: number;
  private hostCapabilities?: string[];
  private bridgeScript!: string;
  private seccompCache?: SeccompFilterCache;
  private exitWatcher?: FSWatcher;
  /**
   * Exits being recorded, so that concurrent refreshes emit one exit event. Keyed by
   * run (id and conmon pid), never by id alone: an id deleted and created again (or
   * restarted) is a new run whose state must not come from the old one's exit.
   */
  private readonly finalizing = new Map<string, Promise<ContainerRecord>>();
  private readonly containerLogs = new ContainerLogs({
    running: async (c) => {
      const rec = await this.load(c.id).catch(() => undefined);
      return !!rec && rec.conmonPid === c.conmonPid && (await this.refresh(rec)).status !== 'stopped';
    },
    exited: (id, signal) => this.wait(id, { signal }),
  });

  constructor(options: LinuxDriverOptions) {
    this.options = options;
    this.stateDir = options.stateDir;
    this.containersDir = join(this.stateDir, 'containers');
    this.exitDir = join(this.stateDir, 'exits');
    this.socketDir = join(this.stateDir, 'socks');
    this.name = `linux/${(options.runtime ?? 'crun').split('/').pop() as string}`;
    this.emitter.setMaxListeners(0);
  }

  private init(): Promise<void> {
    this.ready ??= (async () => {
      // 0711: a user-namespaced container's root (a mapped uid) must reach its bundle files
      await mkdir(this.stateDir, { recursive: true, mode: 0o711 });
      await chmod(this.stateDir, 0o711);
      await mkdir(this.containersDir, { recursive: true, mode: 0o711 });
      await chmod(this.containersDir, 0o711);
      for (const d of [this.exitDir, this.socketDir]) await mkdir(d, { recursive: true, mode: 0o700 });
      const status = await readFile('/proc/self/status', 'utf8');
      const bnd = /^CapBnd:\s+([0-9a-f]+)/m.exec(status)?.[1];
      if (bnd) this.hostCapabilities = capabilitiesFromMask(BigInt(`0x${bnd}`));
      this.cgroups = await detectCgroups();
      this.runtime = await prepareRuntime(this.stateDir, this.options.runtime ?? 'crun', this.cgroups);
      this.conmonPath = await findExecutable(this.options.conmonPath ?? 'conmon');
      this.seccompCache = await SeccompFilterCache.forRuntime(this.stateDir, this.runtime.name, this.runtime.binary);
      this.swapSupported = await swapLimitSupported(this.cgroups);
      this.bridgeScript = join(this.stateDir, 'attach-bridge.pl');
      await writeFile(this.bridgeScript, ATTACH_BRIDGE_SOURCE, { mode: 0o600 });
      const limits = await readFile('/proc/self/limits', 'utf8').catch(() => '');
      const m = /^Max open files\s+(\d+)\s+(\d+|unlimited)/m.exec(limits);
      if (m && m[2] !== 'unlimited') this.hostNofileHard = Number(m[2]);
      this.exitWatcher = watch(this.exitDir, (_event, file) => {
        if (file) this.emitter.emit('exit-file', String(file));
      });
      this.exitWatcher.unref();
      this.exitWatcher.on('error', () => undefined);
      // containers started by an earlier driver (berthd restarted) keep their log limits
      for (const id of await readdir(this.containersDir).catch(() => [] as string[])) {
        const rec = await this.load(id).catch(() => undefined);
        if (rec?.logLimits && rec.status === 'running') this.containerLogs.watch(rec);
      }
    })();
    return this.ready;
  }

  private dir(id: string): string {
    return join(this.containersDir, id);
  }

  private emit(type: RuntimeEvent['type'], id: string, exitCode?: number): void {
    const ev: RuntimeEvent = { type, id, time: now() };
    if (exitCode !== undefined) ev.exitCode = exitCode;
    this.emitter.emit('event', ev);
  }

  private async load(id: string): Promise<ContainerRecord> {
    if (!isValidContainerId(id)) throw new NotFoundError(`no such container: ${id}`);
    try {
      return JSON.parse(await readFile(join(this.dir(id), 'state.json'), 'utf8')) as ContainerRecord;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new NotFoundError(`no such container: ${id}`);
      throw err;
    }
  }

  private async save(rec: ContainerRecord): Promise<void> {
    const file = join(this.dir(rec.id), 'state.json');
    const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}`;
    await writeFile(tmp, JSON.stringify(rec));
    await rename(tmp, file);
  }

  /** The exit code conmon recorded, if the container has exited. */
  private async exitFile(id: string): Promise<{ code: number; time: string } | undefined> {
    try {
      const path = join(this.exitDir, id);
      const text = (await readFile(path, 'utf8')).trim();
      if (text === '') return undefined;
      const st = await stat(path);
      return { code: Number(text), time: st.mtime.toISOString() };
    } catch {
      return undefined;
    }
  }

  /** Brings the record up to date with what conmon and the kernel say. */
  private async refresh(rec: ContainerRecord): Promise<ContainerRecord> {
    if (rec.status === 'stopped') return rec;
    const pending = this.finalizing.get(runKey(rec));
    if (pending) return pending;
    const exit = await this.exitFile(rec.id);
    if (exit) return this.finalize(rec, exit.code, exit.time);
    if (!pidAlive(rec.conmonPid)) {
      // conmon is gone without an exit file: the monitor died (or the host rebooted)
      const again = await this.exitFile(rec.id);
      if (again) return this.finalize(rec, again.code, again.time);
      if (!pidAlive(rec.pid)) return this.finalize(rec, 255, now());
    }
    return rec;
  }

  private finalize(rec: ContainerRecord, code: number, time: string): Promise<ContainerRecord> {
    const key = runKey(rec);
    const existing = this.finalizing.get(key);
    if (existing) return existing;
    const p = (async () => {
      let oom = false;
      try {
        await stat(join(rec.bundle, 'persist', 'oom'));
        oom = true;
      } catch {
        // conmon saw no OOM; ask the cgroup (kept until the runtime deletes it)
        oom = (await readOomKills(this.cgroups, rec.cgroupsPath).catch(() => 0)) > 0;
      }
      const latest = await this.load(rec.id).catch(() => rec);
      // deleted and created again meanwhile: that run is not the one that exited
      if (latest.conmonPid !== rec.conmonPid) return { ...rec, status: 'stopped' as const, exitCode: code, oomKilled: oom, finishedAt: time };
      if (latest.status === 'stopped') return latest;
      const done: ContainerRecord = { ...latest, status: 'stopped', exitCode: code, oomKilled: oom, finishedAt: time };
      await this.save(done).catch(() => undefined);
      if (oom) this.emit('oom', rec.id);
      this.emit('exit', rec.id, code);
      return done;
    })();
    this.finalizing.set(key, p);
    // once saved, the record itself says stopped; a refresh that read it before the save
    // and comes late finds `latest` stopped in finalize and emits nothing
    void p.finally(() => this.finalizing.delete(key)).catch(() => undefined);
    return p;
  }

  private toState(rec: ContainerRecord): ContainerState {
    const st: ContainerState = { id: rec.id, status: rec.status, createdAt: rec.createdAt, labels: rec.labels, logPath: rec.logPath };
    if (rec.status === 'running') st.pid = rec.pid;
    if (rec.startedAt) st.startedAt = rec.startedAt;
    if (rec.status === 'stopped') {
      st.exitCode = rec.exitCode ?? 255;
      st.oomKilled = rec.oomKilled === true;
      if (rec.finishedAt) st.finishedAt = rec.finishedAt;
    }
    return st;
  }

  async create(spec: ContainerSpec): Promise<ContainerState> {
    await this.init();
    if (!isValidContainerId(spec.id)) throw new InvalidArgumentError(`invalid container id ${JSON.stringify(spec.id)}`);
    if (spec.isolation === 'hyperv') throw new UnsupportedError('hyperv isolation is not available on Linux');
    if (spec.platform && spec.platform.os !== 'linux') throw new UnsupportedError(`cannot run ${spec.platform.os} containers on Linux`);
    const args = spec.process.args;
    if (args.length === 0) throw new InvalidArgumentError('process.args must not be empty');
    const bundle = this.dir(spec.id);
    try {
      await mkdir(bundle, { mode: 0o711 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new ConflictError(`container ${spec.id} already exists`);
      throw err;
    }
    let mountedRootfs = false;
    let networked = false;
    let attaching: Promise<{ res?: Awaited<ReturnType<ContainerNetworker['attach']>>; err?: unknown }> | undefined;
    let namespaceReady: Promise<string> | undefined;
    try {
      // network
      const mode = spec.network?.mode ?? 'none';
      let netns: 'new' | 'host' | { path: string } = 'new';
      let ips: string[] = [];
      let nameservers: string[] = [];
      const hostname = (spec.hostname || spec.id.slice(0, 12)).slice(0, 63);
      if (mode === 'host') netns = 'host';
      else if (mode === 'none') netns = 'new';
      else if (mode.startsWith('container:')) {
        const other = await this.refresh(await this.load(mode.slice('container:'.length)));
        if (other.status !== 'running') throw new ConflictError(`container ${other.id} is not running`);
        netns = { path: `/proc/${other.pid}/ns/net` };
      } else if (mode === 'bridge' || this.options.network) {
        if (!this.options.network) throw new UnsupportedError('bridge networking needs a network manager');
        networked = true;
        const attachOpts: Parameters<ContainerNetworker['attach']>[1] = { mode: 'bridge', hostname, hostFilesDir: bundle };
        const nets = spec.network?.networks ?? (mode === 'bridge' ? [] : [{ name: mode }]);
        attachOpts.networks = nets.map((n) => ({
          name: n.name,
          ...(n.aliases ? { aliases: n.aliases } : {}),
          ...(n.ipv4Address ? { ipv4Address: n.ipv4Address } : {}),
          ...(n.ipv6Address ? { ipv6Address: n.ipv6Address } : {}),
          ...(n.mac ? { mac: n.mac } : {}),
          ...(n.links?.length ? { links: n.links } : {}),
        }));
        if (spec.network?.ports) attachOpts.ports = spec.network.ports.map((p) => ({ ...p, protocol: p.protocol ?? 'tcp' }));
        // CNI ADD runs while the rootfs is prepared and the runtime creates the container in
        // the new namespace; it has to be done before create returns (so before start).
        namespaceReady = new Promise<string>((resolve) => (attachOpts.onNamespace = resolve));
        attaching = this.options.network.attach(spec.id, attachOpts).then(
          (res) => ({ res }),
          (err: unknown) => ({ err }),
        );
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
      const takeAttachResult = (settled: Awaited<NonNullable<typeof attaching>>): void => {
        attaching = undefined;
        if (!settled.res) throw settled.err;
        if (!settled.res.netnsPath) throw new UnsupportedError('network manager returned no namespace');
        netns = { path: settled.res.netnsPath };
        // an IPv6 address gets its own /etc/hosts line, as in Docker
        ips = settled.res.interfaces.flatMap((i) => (i.ip6 ? [i.ip, i.ip6] : [i.ip]));
        nameservers = settled.res.nameservers ?? [];
      };
      if (attaching && namespaceReady) {
        const first = await Promise.race([namespaceReady.then((path) => ({ path })), attaching]);
        if ('path' in first) netns = { path: first.path };
        else takeAttachResult(first);
      }
      // written again in place (the bind mounts keep the inode) once the addresses are known
      const etcFiles = await writeEtcFiles(bundle, spec, hostname, ips, nameservers);
      const cgroupsPath = `${this.options.cgroupParent ?? '/berth'}/${spec.id}`;
      const config: OciConfig = buildOciConfig({
        spec: { ...spec, hostname },
        rootfsPath: rootfs,
        user,
        env,
        cwd,
        args,
        etcFiles,
        netns,
        cgroupsPath,
        swapLimitSupported: this.swapSupported,
        swappinessSupported: this.cgroups.v1.has('memory'),
        devices: devs.devices,
        ...(this.hostCapabilities ? { hostCapabilities: this.hostCapabilities } : {}),
        deviceRules: [...devs.rules, ...extraRules],
        ...(this.hostNofileHard !== undefined ? { hostNofileHard: this.hostNofileHard } : {}),
      });
      let seccompDonation: string | undefined;
      const profile = config.linux.seccomp as OciSeccomp | undefined;
      if (this.seccompCache && profile) {
        const key = this.seccompCache.key(profile);
        const bpf = await this.seccompCache.lookup(key);
        if (bpf) config.annotations = { ...(config.annotations ?? {}), [SECCOMP_BPF_ANNOTATION]: bpf };
        else seccompDonation = key;
      }
      await writeFile(join(bundle, 'config.json'), JSON.stringify(config), { mode: 0o600 });
      await mkdir(join(bundle, 'persist'));
      const logPath = spec.logPath ?? (this.options.logDir ? join(this.options.logDir, `${spec.id}.log`) : join(bundle, 'ctr.log'));
      const launching = launchConmon({
        conmonPath: this.conmonPath,
        runtime: this.runtime,
        id: spec.id,
        bundle,
        logPath,
        exitDir: this.exitDir,
        socketDir: this.socketDir,
        persistDir: join(bundle, 'persist'),
        tty: spec.process.tty === true,
        stdin: spec.process.stdin === true,
        leaveStdinOpen: spec.process.keepStdinOpen === true,
      }).then(
        (ok) => ({ ok }),
        (err: unknown) => ({ err }),
      );
      // both settle before anything is undone: the catch below must not race a runtime create
      const [launched, settled] = await Promise.all([launching, attaching]);
      if (settled) takeAttachResult(settled);
      if (!('ok' in launched)) throw launched.err;
      const started = launched.ok;
      if (settled) await writeEtcFiles(bundle, spec, hostname, ips, nameservers);
      if (seccompDonation) await this.seccompCache?.donate(seccompDonation, this.runtime.root, spec.id);
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
        env,
      };
      if (spec.stopSignal) rec.stopSignal = spec.stopSignal;
      await this.save(rec);
      this.emit('create', spec.id);
      return this.toState(rec);
    } catch (err) {
      await runRuntime(this.runtime, ['delete', '--force', spec.id]).catch(() => undefined);
      // an attach still running (the rootfs failed meanwhile) finishes before it is undone
      if (attaching) await attaching;
      if (networked) await this.options.network?.detach(spec.id).catch(() => undefined);
      if (mountedRootfs) await unmountRootfs(join(bundle, 'rootfs')).catch(() => undefined);
      await rm(bundle, { recursive: true, force: true });
      await rm(join(this.exitDir, spec.id), { force: true });
      await rm(join(this.socketDir, spec.id), { force: true });
      throw err;
    }
  }

  async start(id: string): Promise<void> {
    await this.init();
    let rec = await this.refresh(await this.load(id));
    if (rec.status === 'running') throw new ConflictError(`container ${id} is already running`);
    if (rec.status === 'stopped') rec = await this.recreate(rec);
    await runRuntime(this.runtime, ['start', id]);
    const updated: ContainerRecord = { ...(await this.load(id)), status: 'running', startedAt: now() };
    await this.save(updated);
    this.containerLogs.watch(updated);
    this.emit('start', id);
  }

  /**
   * Runs a stopped container again (restart, restart policies): the runtime forgets
   * the old process, a new conmon creates it from the same bundle; the log continues.
   */
  private async recreate(rec: ContainerRecord): Promise<ContainerRecord> {
    await runRuntime(this.runtime, ['delete', '--force', rec.id]).catch(() => undefined);
    await removeCgroup(this.cgroups, rec.cgroupsPath);
    await rm(join(this.exitDir, rec.id), { force: true });
    await rm(join(rec.bundle, 'persist', 'oom'), { force: true });
    const started = await launchConmon({
      conmonPath: this.conmonPath,
      runtime: this.runtime,
      id: rec.id,
      bundle: rec.bundle,
      logPath: rec.logPath,
      exitDir: this.exitDir,
      socketDir: this.socketDir,
      persistDir: join(rec.bundle, 'persist'),
      tty: rec.tty,
      stdin: rec.stdin,
      leaveStdinOpen: rec.keepStdinOpen === true,
    });
    const next: ContainerRecord = { ...rec, status: 'created', pid: started.pid, conmonPid: started.conmonPid };
    delete next.exitCode;
    delete next.oomKilled;
    delete next.finishedAt;
    await this.save(next);
    return next;
  }

  async state(id: string): Promise<ContainerState> {
    await this.init();
    return this.withPaused(await this.refresh(await this.load(id)));
  }

  /** The freezer is the truth (whoever froze it): a cgroup read, only while running. */
  private async withPaused(rec: ContainerRecord): Promise<ContainerState> {
    const st = this.toState(rec);
    if (st.status === 'running' && (await isFrozen(this.cgroups, rec.cgroupsPath))) st.paused = true;
    return st;
  }

  async pause(id: string): Promise<void> {
    await this.init();
    const rec = await this.refresh(await this.load(id));
    if (rec.status !== 'running') throw new ConflictError(`container ${id} is not running`);
    await setFrozen(this.cgroups, rec.cgroupsPath, true);
  }

  async unpause(id: string): Promise<void> {
    await this.init();
    const rec = await this.refresh(await this.load(id));
    if (rec.status !== 'running') throw new ConflictError(`container ${id} is not running`);
    await setFrozen(this.cgroups, rec.cgroupsPath, false);
  }

  async list(): Promise<ContainerState[]> {
    await this.init();
    const out: ContainerState[] = [];
    for (const id of await readdir(this.containersDir)) {
      try {
        out.push(await this.withPaused(await this.refresh(await this.load(id))));
      } catch {
        // being created or deleted
      }
    }
    return out;
  }

  async kill(id: string, signal: string | number = 'SIGKILL'): Promise<void> {
    await this.init();
    const sig = signalNumber(signal);
    const rec = await this.refresh(await this.load(id));
    if (rec.status === 'stopped') return;
    try {
      await runRuntime(this.runtime, ['kill', id, String(sig)]);
    } catch (err) {
      const again = await this.refresh(await this.load(id));
      if (again.status === 'stopped') return;
      // crun/runc refuse to signal a created-but-not-started container that is not running
      if (!pidAlive(again.pid)) return;
      throw err;
    }
    // a frozen process never handles its SIGKILL: thaw a paused container so it dies (as docker does)
    if (sig === 9 && rec.status === 'running' && (await isFrozen(this.cgroups, rec.cgroupsPath))) {
      await setFrozen(this.cgroups, rec.cgroupsPath, false).catch(() => undefined);
    }
  }

  async wait(id: string, options: { signal?: AbortSignal } = {}): Promise<ExitStatus> {
    await this.init();
    let rec = await this.refresh(await this.load(id));
    let delay = 20;
    while (rec.status !== 'stopped') {
      options.signal?.throwIfAborted();
      await new Promise<void>((resolve) => {
        const onFile = (file: string) => {
          if (file === id) done();
        };
        const onAbort = () => done();
        const timer = setTimeout(() => done(), delay);
        const done = () => {
          clearTimeout(timer);
          this.emitter.off('exit-file', onFile);
          options.signal?.removeEventListener('abort', onAbort);
          resolve();
        };
        this.emitter.on('exit-file', onFile);
        options.signal?.addEventListener('abort', onAbort);
      });
      options.signal?.throwIfAborted();
      delay = Math.min(delay * 2, 500);
      rec = await this.refresh(await this.load(id));
    }
    return { exitCode: rec.exitCode ?? 255, oomKilled: rec.oomKilled === true };
  }

  async delete(id: string, options: DeleteOptions = {}): Promise<void> {
    await this.init();
    let rec = await this.refresh(await this.load(id));
    if (rec.status === 'running' || (rec.status === 'created' && pidAlive(rec.pid) && options.force)) {
      if (!options.force && rec.status === 'running') throw new ConflictError(`container ${id} is running: stop it first or force`);
      await this.kill(id, 'SIGKILL');
      const ctl = new AbortController();
      const t = setTimeout(() => ctl.abort(), 15_000);
      await this.wait(id, { signal: ctl.signal }).finally(() => clearTimeout(t));
      rec = await this.load(id);
    }
    // the container's processes are gone (or never ran): the network can go meanwhile
    const detaching = rec.networked && this.options.network
      ? this.options.network.detach(id).then(() => undefined, (err: unknown) => ({ err }))
      : undefined;
    if (rec.status === 'created') {
      // never started: kill the runtime's init waiting in the exec fifo
      await runRuntime(this.runtime, ['kill', id, '9']).catch(() => undefined);
    }
    if (rec.status !== 'stopped' || !(await runRuntime(this.runtime, ['delete', id]).then(() => true, () => false))) {
      await runRuntime(this.runtime, ['delete', '--force', id]).catch(() => undefined);
    }
    // conmon exits right after the container; give it a moment, then make sure
    for (let i = 0; i < 50 && pidAlive(rec.conmonPid); i++) await sleep(20);
    if (pidAlive(rec.conmonPid)) {
      try {
        const cmd = await readFile(`/proc/${rec.conmonPid}/cmdline`, 'utf8');
        if (cmd.includes(id)) process.kill(rec.conmonPid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    // the runtime leaves the cgroup behind when the container's processes were still exiting
    await removeCgroup(this.cgroups, rec.cgroupsPath);
    if (rec.mountedRootfs) await unmountRootfs(join(rec.bundle, 'rootfs'));
    const detached = await detaching;
    if (detached) throw detached.err;
    await rm(join(this.exitDir, id), { force: true });
    await rm(join(this.socketDir, id), { force: true });
    await rm(rec.bundle, { recursive: true, force: true });
    if (!rec.callerLog) await removeLogFiles(rec.logPath);
    this.emit('delete', id);
  }

  async stats(id: string): Promise<ContainerStats> {
    await this.init();
    const rec = await this.refresh(await this.load(id));
    if (rec.status !== 'running') throw new ConflictError(`container ${id} is not running`);
    const s = await readCgroupStats(this.cgroups, rec.cgroupsPath);
    return { id, time: now(), cpu: s.cpu, memory: s.memory, pids: s.pids };
  }

  async *logs(id: string, options: LogOptions = {}): AsyncIterable<LogEntry> {
    await this.init();
    yield* this.containerLogs.read(await this.load(id), options);
  }

  async *events(options: { signal?: AbortSignal } = {}): AsyncIterable<RuntimeEvent> {
    await this.init();
    const queue: RuntimeEvent[] = [];
    let wake: (() => void) | undefined;
    const onEvent = (ev: RuntimeEvent) => {
      queue.push(ev);
      wake?.();
    };
    const onAbort = () => wake?.();
    this.emitter.on('event', onEvent);
    options.signal?.addEventListener('abort', onAbort);
    try {
      while (!options.signal?.aborted) {
        const ev = queue.shift();
        if (ev) {
          yield ev;
          continue;
        }
        await new Promise<void>((r) => {
          wake = r;
        });
        wake = undefined;
      }
    } finally {
      this.emitter.off('event', onEvent);
      options.signal?.removeEventListener('abort', onAbort);
    }
  }

  async resize(id: string, size: TerminalSize): Promise<void> {
    await this.init();
    const rec = await this.refresh(await this.load(id));
    if (!rec.tty) throw new ConflictError(`container ${id} has no tty`);
    if (rec.status === 'stopped') return;
    const h = Math.max(0, Math.min(1000, Math.floor(size.height)));
    const w = Math.max(0, Math.min(1000, Math.floor(size.width)));
    await writeFile(join(rec.bundle, 'ctl'), `1 ${h} ${w}\n`, { flag: 'a' });
  }

  /** The CRI's ReopenContainerLog: conmon creates the log afresh at its path (kubelet has renamed it). */
  async reopenLog(id: string): Promise<void> {
    await this.init();
    const rec = await this.refresh(await this.load(id));
    if (rec.status === 'stopped' || !(await reopenLog(join(rec.bundle, 'ctl')))) throw new ConflictError(`container ${id} is not running`);
  }

  async attach(id: string, options: AttachOptions = {}): Promise<AttachedStdio> {
    await this.init();
    const rec = await this.refresh(await this.load(id));
    if (!options.stdin) return this.containerLogs.attachOutput(rec, options);
    if (!rec.stdin) throw new ConflictError(`container ${id} was not created with stdin open`);
    if (rec.status === 'stopped') throw new ConflictError(`container ${id} is not running`);
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    const bridge = spawn('perl', [this.bridgeScript, join(this.socketDir, id, 'attach')], { stdio: ['pipe', 'pipe', 'pipe'] });
    await new Promise<void>((resolve, reject) => {
      let err = '';
      const onData = (c: Buffer) => {
        err += c.toString();
        if (err.includes('connected\n')) {
          bridge.stderr.off('data', onData);
          resolve();
        }
      };
      bridge.stderr.on('data', onData);
      bridge.on('exit', () => reject(new ConflictError(`cannot attach to ${id}: ${err.trim()}`)));
    });
    let pending = Buffer.alloc(0);
    bridge.stdout.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 4) {
        const len = pending.readUInt32BE(0);
        if (pending.length < 4 + len) break;
        const packet = pending.subarray(4, 4 + len);
        pending = pending.subarray(4 + len);
        const kind = packet[0];
        const data = packet.subarray(1);
        if (kind === 2 && options.stdout !== false) stdout.write(data);
        else if (kind === 3 && options.stderr !== false) stderr.write(data);
      }
    });
    bridge.on('close', () => {
      stdout.end();
      stderr.end();
    });
    const stdin = new Writable({
      write(chunk: Buffer, _enc, cb) {
        if (bridge.stdin.destroyed) return cb();
        bridge.stdin.write(chunk, () => cb());
      },
      final(cb) {
        bridge.stdin.end(() => cb());
      },
    });
    return {
      stdin,
      stdout,
      stderr,
      close: () => {
        if (bridge.exitCode === null) bridge.kill('SIGTERM');
      },
    };
  }

  async exec(id: string, spec: ExecSpec): Promise<ExecProcess> {
    await this.init();
    const rec = await this.refresh(await this.load(id));
    if (rec.status !== 'running') throw new ConflictError(`container ${id} is not running`);
    if (await isFrozen(this.cgroups, rec.cgroupsPath)) throw new ConflictError(`container ${id} is paused: unpause it first`);
    if (spec.args.length === 0) throw new InvalidArgumentError('exec args must not be empty');
    const config = JSON.parse(await readFile(join(rec.bundle, 'config.json'), 'utf8')) as OciConfig;
    const user = spec.user !== undefined ? await resolveUser(rec.rootfs, spec.user) : undefined;
    const home = user?.home ?? rec.env.find((e) => e.startsWith('HOME='))?.slice(5) ?? '/';
    const env = mergeEnv(rec.env, spec.env, home);
    const proc = {
      ...config.process,
      terminal: spec.tty === true,
      args: spec.args,
      env,
      cwd: spec.cwd || config.process.cwd,
      user: user ? { uid: user.uid, gid: user.gid, ...(user.additionalGids.length ? { additionalGids: user.additionalGids } : {}) } : config.process.user,
    } as Record<string, unknown>;
    if (spec.tty && spec.terminalSize) proc.consoleSize = spec.terminalSize;
    else delete proc.consoleSize;
    const execDir = join(rec.bundle, 'exec');
    await mkdir(execDir, { recursive: true });
    const procFile = join(execDir, `${Date.now()}-${Math.random().toString(36).slice(2)}.json`);
    await writeFile(procFile, JSON.stringify(proc));
    if (spec.tty) return this.execTty(id, rec, procFile, spec);
    // the pid file names the process inside: killing the runtime's exec alone leaves it running
    const pidFile = procFile.replace(/\.json$/, '.pid');
    const child = spawn(this.runtime.wrapper, ['exec', '--pid-file', pidFile, '--process', procFile, id], {
      stdio: [spec.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    });
    return this.execProcess(child, procFile, null, undefined, pidFile);
  }

  private execProcess(child: ChildProcess, procFile: string, onResize: ((s: TerminalSize) => Promise<void>) | null, stdoutOverride?: Readable, pidFile?: string): ExecProcess {
    // The runtime reports a process it could not start on the exec's stderr.
    const tap = stdoutOverride ? undefined : (child.stderr as Readable).pipe(new TailTap());
    (child.stderr as Readable | null)?.on('error', (err) => tap?.destroy(err));
    const exited = new Promise<number>((resolve, reject) => {
      child.on('error', reject);
      // 'exit', not 'close': background children may hold the output pipes open
      child.on('exit', (code, sig) => {
        void rm(procFile, { force: true });
        if (pidFile) void rm(pidFile, { force: true });
        const status = code ?? 128 + (sig ? signalNumber(sig) : 0);
        if (status !== RUNTIME_FAILED || !tap) return resolve(status);
        void endedOrAfter(child.stderr as Readable, 200).then(() => resolve(execFailureCode(tap.tail()) ?? status));
      });
    });
    return {
      stdin: child.stdin ?? null,
      stdout: stdoutOverride ?? (child.stdout as Readable),
      stderr: tap ?? new PassThrough().end(),
      exited,
      resize: async (size) => {
        if (onResize) await onResize(size);
      },
      kill: async (signal = 'SIGKILL') => {
        const n = signalNumber(signal);
        const pid = pidFile ? Number.parseInt(await readFile(pidFile, 'utf8').catch(() => ''), 10) : NaN;
        const running = (): boolean => child.exitCode === null && child.signalCode === null;
        if (pid > 0 && running()) {
          try {
            process.kill(pid, n);
            // the runtime's exec is its parent: let it reap it (no zombie left in the container) and exit
            await new Promise<void>((resolve) => {
              const t = setTimeout(resolve, 2000);
              child.once('exit', () => {
                clearTimeout(t);
                resolve();
              });
            });
          } catch {
            // already gone
          }
        }
        if (running()) child.kill(n);
      },
    };
  }

  /**
   * A tty exec runs under its own conmon (exec mode), which receives the pty from the
   * runtime through its console socket. Output is read from the exec's log, input goes
   * through its attach socket, resize through its ctl fifo, the exit code from its exit dir.
   */
  private async execTty(id: string, rec: ContainerRecord, procFile: string, spec: ExecSpec): Promise<ExecProcess> {
    const execId = `${id}.x${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
    const dir = join(rec.bundle, 'exec', execId);
    const exitDir = join(dir, 'exits');
    await mkdir(exitDir, { recursive: true });
    await mkdir(join(dir, 'persist'));
    const logPath = join(dir, 'exec.log');
    const started = await launchConmon({
      conmonPath: this.conmonPath,
      runtime: this.runtime,
      id,
      uuid: execId,
      bundle: dir,
      logPath,
      exitDir,
      socketDir: this.socketDir,
      persistDir: join(dir, 'persist'),
      tty: true,
      stdin: spec.stdin === true,
      execProcessSpec: procFile,
    });
    const exitFile = join(exitDir, id);
    const exitCode = async (): Promise<number | undefined> => {
      const text = await readFile(exitFile, 'utf8').catch(() => '');
      return text.trim() === '' ? undefined : Number(text.trim());
    };
    const stdout = new PassThrough();
    let stdinBridge: ChildProcess | undefined;
    const exited = (async () => {
      let code: number | undefined;
      for await (const e of readK8sLog([logPath], {
        follow: { keepGoing: async () => (code = await exitCode()) === undefined && pidAlive(started.conmonPid), pollMs: 20 },
      })) {
        await writeWithBackpressure(stdout, e.data);
      }
      stdout.end();
      code ??= await exitCode();
      stdinBridge?.kill('SIGTERM');
      await rm(dir, { recursive: true, force: true });
      await rm(join(this.socketDir, execId), { force: true });
      await rm(procFile, { force: true });
      return code ?? 255;
    })();
    let stdin: Writable | null = null;
    if (spec.stdin) {
      const bridge = spawn('perl', [this.bridgeScript, join(this.socketDir, execId, 'attach')], { stdio: ['pipe', 'ignore', 'ignore'] });
      stdinBridge = bridge;
      bridge.on('error', () => undefined);
      stdin = bridge.stdin;
    }
    return {
      stdin,
      stdout,
      stderr: new PassThrough().end(),
      exited,
      resize: async (size) => {
        await writeFile(join(dir, 'ctl'), `1 ${Math.floor(size.height)} ${Math.floor(size.width)}\n`, { flag: 'a' }).catch(() => undefined);
      },
      kill: async (signal = 'SIGKILL') => {
        if (pidAlive(started.pid)) process.kill(started.pid, signalNumber(signal));
      },
    };
  }

  async close(): Promise<void> {
    this.exitWatcher?.close();
    this.containerLogs.close();
    this.emitter.removeAllListeners('event');
  }
}
