import { totalmem } from 'node:os';
import { InvalidArgumentError, UnsupportedError } from '@berth/image-format';
import { setFrozen } from './freezer.js';
import type { ContainerSpec, RuntimeDriver } from '@berth/runtime';
import type { DriverState, ExecHandle, ExecRequest, ExitInfo, NetworkAttachment, RunRequest, RuntimeLogEntry, RuntimeLogOptions, RuntimePort, StdioHandle } from '../ports.js';

/** Optional driver abilities beyond the @berth/runtime contract (driver-linux has some). */
interface DriverExtras {
  pause?(id: string): Promise<void>;
  resume?(id: string): Promise<void>;
  unpause?(id: string): Promise<void>;
  networkInfo?(id: string): Promise<NetworkAttachment[]>;
}

/** RuntimePort over a @berth/runtime RuntimeDriver (driver-linux in berthd). */
export class DriverRuntime implements RuntimePort {
  constructor(private readonly driver: RuntimeDriver & DriverExtras) {}

  get name(): string {
    return this.driver.name;
  }

  toSpec(req: RunRequest): ContainerSpec {
    const p = req.process;
    return {
      id: req.id,
      process: {
        args: p.args,
        env: p.env,
        cwd: p.cwd,
        ...(p.user ? { user: p.user } : {}),
        tty: p.tty,
        stdin: p.openStdin,
        // Docker closes a container's stdin after its first client only with StdinOnce and no TTY
        ...(p.openStdin && (!p.stdinOnce || p.tty) ? { keepStdinOpen: true } : {}),
        ...(p.consoleSize ? { terminalSize: { height: p.consoleSize.h, width: p.consoleSize.w } } : {}),
        ...(p.rlimits.length > 0 ? { rlimits: p.rlimits } : {}),
        ...(req.security.groupAdd.length > 0 ? { groupAdd: req.security.groupAdd } : {}),
      },
      ...(req.hostNamespaces.length > 0 ? { hostNamespaces: req.hostNamespaces } : {}),
      ...(Object.keys(req.sysctls).length > 0 ? { sysctls: req.sysctls } : {}),
      hostname: req.hostname,
      ...(req.domainname ? { domainname: req.domainname } : {}),
      rootfs: { mounts: req.rootfs.map((m) => ({ type: m.type, source: m.source, options: m.options })), readonly: req.readonlyRootfs },
      mounts: req.mounts.map((m) => ({
        type: m.type,
        ...(m.type === 'bind' ? { source: m.source } : {}),
        destination: m.target,
        options: m.options.filter((o) => o !== 'ro' && o !== 'rw'),
        readonly: m.options.includes('ro'),
      })),
      devices: req.devices,
      ...(req.deviceCgroupRules.length > 0 ? { deviceCgroupRules: req.deviceCgroupRules } : {}),
      resources: req.resources,
      network: {
        mode: req.network.mode === 'host' || req.network.mode === 'none' || req.network.mode.startsWith('container:') ? req.network.mode : 'bridge',
        networks: req.network.networks.map((n) => ({
          name: n.name,
          aliases: n.aliases,
          ...(n.ipv4 ? { ipv4Address: n.ipv4 } : {}),
          ...(n.ipv6 ? { ipv6Address: n.ipv6 } : {}),
          ...(n.mac ? { mac: n.mac } : {}),
          ...(n.links?.length ? { links: n.links } : {}),
        })),
        ports: req.network.ports.map((p) => ({
          ...(p.hostIp ? { hostIp: p.hostIp } : {}),
          hostPort: p.hostPort,
          containerPort: p.containerPort,
          protocol: p.protocol === 'udp' ? 'udp' : 'tcp',
        })),
        dns: { servers: req.network.dns, search: req.network.dnsSearch, options: req.network.dnsOptions },
        extraHosts: req.network.extraHosts,
      },
      security: {
        privileged: req.security.privileged,
        capAdd: req.security.capAdd,
        capDrop: req.security.capDrop,
        readonlyRootfs: req.readonlyRootfs,
        ...(req.security.maskedPaths ? { maskedPaths: req.security.maskedPaths } : {}),
        ...(req.security.readonlyPaths ? { readonlyPaths: req.security.readonlyPaths } : {}),
        ...(req.security.securityOpt.includes('no-new-privileges') || req.security.securityOpt.includes('no-new-privileges:true') ? { noNewPrivileges: true } : {}),
        ...seccompChoice(req.security.securityOpt),
      },
      labels: req.labels,
      stopSignal: req.stopSignal,
      logPath: req.logPath,
      ...(req.logLimits ? { logLimits: req.logLimits } : {}),
    };
  }

  async create(req: RunRequest): Promise<{ logPath: string; network?: NetworkAttachment[] }> {
    const st = await this.driver.create(this.toSpec(req));
    return { logPath: st.logPath ?? req.logPath };
  }

  async start(id: string): Promise<{ pid: number }> {
    await this.driver.start(id);
    const st = await this.driver.state(id);
    return { pid: st.pid ?? 0 };
  }

  async networkInfo(id: string): Promise<NetworkAttachment[]> {
    return this.driver.networkInfo ? this.driver.networkInfo(id) : [];
  }

  async state(id: string): Promise<DriverState> {
    const st = await this.driver.state(id);
    if (st.status === 'stopped') {
      return {
        status: 'stopped',
        pid: 0,
        exit: { exitCode: st.exitCode ?? 255, oomKilled: st.oomKilled ?? false, finishedAt: st.finishedAt ?? new Date().toISOString() },
      };
    }
    return { status: st.status, pid: st.pid ?? 0 };
  }

  async waitExit(id: string): Promise<ExitInfo> {
    const exit = await this.driver.wait(id);
    const st = await this.driver.state(id).catch(() => undefined);
    return { exitCode: exit.exitCode, oomKilled: exit.oomKilled, finishedAt: st?.finishedAt ?? new Date().toISOString() };
  }

  async kill(id: string, signal: string): Promise<void> {
    await this.driver.kill(id, signal);
  }

  async pause(id: string): Promise<void> {
    if (this.driver.pause) return this.driver.pause(id);
    await setFrozen(await this.pidOf(id), true);
  }

  async resume(id: string): Promise<void> {
    const f = this.driver.resume ?? this.driver.unpause;
    if (f) return f.call(this.driver, id);
    await setFrozen(await this.pidOf(id), false);
  }

  private async pidOf(id: string): Promise<number> {
    const st = await this.driver.state(id);
    if (st.status !== 'running' || !st.pid) throw new UnsupportedError(`container ${id} is not running`);
    return st.pid;
  }

  async delete(id: string): Promise<void> {
    await this.driver.delete(id, { force: true });
  }

  async attach(id: string, opts: { stdin: boolean }): Promise<StdioHandle> {
    const a = await this.driver.attach(id, { stdin: opts.stdin, stdout: true, stderr: true });
    return { ...(a.stdin ? { stdin: a.stdin } : {}), stdout: a.stdout, stderr: a.stderr, close: () => a.close() };
  }

  async resize(id: string, size: { h: number; w: number }): Promise<void> {
    await this.driver.resize(id, { height: size.h, width: size.w });
  }

  async exec(id: string, req: ExecRequest): Promise<ExecHandle> {
    const p = await this.driver.exec(id, {
      args: req.args,
      env: req.env,
      ...(req.cwd ? { cwd: req.cwd } : {}),
      ...(req.user ? { user: req.user } : {}),
      tty: req.tty,
      stdin: req.stdin,
    });
    return {
      pid: 0,
      ...(p.stdin ? { stdin: p.stdin } : {}),
      stdout: p.stdout,
      ...(req.tty ? {} : { stderr: p.stderr }),
      exited: p.exited,
      resize: (s) => p.resize({ height: s.h, width: s.w }),
      close: () => {
        p.stdin?.end();
      },
    };
  }

  logs(id: string, opts: RuntimeLogOptions): AsyncIterable<RuntimeLogEntry> {
    return this.driver.logs(id, opts);
  }

  async stats(id: string): Promise<{ cpuNs: number; cpuUserNs: number; cpuKernelNs: number; memory: number; memoryLimit: number; pids: number }> {
    const s = await this.driver.stats(id);
    return {
      cpuNs: s.cpu.usageNanos,
      cpuUserNs: s.cpu.userNanos ?? 0,
      cpuKernelNs: s.cpu.systemNanos ?? 0,
      memory: s.memory.usageBytes,
      // unlimited: Docker reports the host's memory as the limit
      memoryLimit: s.memory.limitBytes ?? totalmem(),
      pids: s.pids.current,
    };
  }

  async list(): Promise<{ id: string; labels: Record<string, string> }[]> {
    return (await this.driver.list()).map((s) => ({ id: s.id, labels: s.labels }));
  }
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
