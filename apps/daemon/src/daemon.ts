import { mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { ConflictError } from '@berth/image-format';
import { Engine } from '@berth/engine';
import type { EngineLike } from './engine-port.js';
import { buildApp } from './http/app.js';
import { startCri } from './cri.js';
import type { CriServer } from '@berth/cri';
import type { DriverContext, EngineDrivers } from '@berth/engine';
import { listen, type Listener } from './http/listeners.js';
import { defaultListenHost } from './http/default-host.js';
import { DEFAULT_CONFIG_FILE, readDaemonConfig, type DaemonConfig } from './config.js';
import { currentPlatform, driverSetFor, isolationHost, type DaemonPlatform } from './platform.js';

export const DEFAULT_ROOT = '/var/lib/berth';
export const DEFAULT_RUN_ROOT = '/run/berth';

export interface DaemonOptions {
  /** State root (default /var/lib/berth, or daemon.json `data-root`). */
  root?: string;
  /** Runtime root for the socket, pid file and runtime state (default /run/berth). */
  runRoot?: string;
  /** `unix:///path`, `npipe:////./pipe/NAME` or `tcp://127.0.0.1:N`, repeatable; default `unix://<runRoot>/berthd.sock` (Windows: the berth_engine pipe). */
  hosts?: string[];
  /** daemon.json path; default /etc/berth/daemon.json (ignored when missing). */
  configFile?: string;
  /** Config given directly (merged over the file's). */
  config?: DaemonConfig;
  /** pino level; default 'warn'. */
  logLevel?: string;
  /** Serve the Kubernetes CRI on this address (`unix:///run/berth/cri.sock`); overrides daemon.json `cri.address`. */
  cri?: string;
  /** Use this engine instead of opening one (it is closed with the daemon). */
  engine?: EngineLike;
  /**
   * Compose berthd as on this platform rather than the machine's: tests on Linux pass
   * `{ os: 'win32', hcs: new HcsSimulator() }` to run a Windows berthd's wiring (the
   * Windows drivers, Windows images accepted) over the HCS simulator.
   */
  platform?: DaemonPlatform;
}

export interface Daemon {
  /** The addresses actually listened on (tcp with the real port). */
  readonly addresses: string[];
  /** The first unix socket, if any. */
  readonly socketPath: string | undefined;
  readonly engine: EngineLike;
  readonly app: FastifyInstance;
  readonly pidFile: string;
  /** The Kubernetes CRI server when one was asked for. */
  readonly cri: CriServer | undefined;
  /** Stops serving, closes the engine (containers keep running), removes sockets and the pid file. */
  close(): Promise<void>;
}

/**
 * Starts berthd: reads the config, takes the pid file, opens the engine, serves the
 * Docker Engine API on every host. Throws Conflict if another berthd owns the pid file.
 */
export async function startDaemon(options: DaemonOptions = {}): Promise<Daemon> {
  const fileConfig = await readDaemonConfig(options.configFile ?? DEFAULT_CONFIG_FILE, options.configFile !== undefined);
  const config: DaemonConfig = { ...fileConfig, ...options.config };
  // containerd's layout: mirrors per registry beside the config file (/etc/berth/certs.d/<host>/hosts.toml)
  config['registry-hosts-dir'] ??= join(dirname(options.configFile ?? DEFAULT_CONFIG_FILE), 'certs.d');
  const root = options.root ?? config['data-root'] ?? DEFAULT_ROOT;
  const runRoot = options.runRoot ?? config['exec-root'] ?? DEFAULT_RUN_ROOT;
  const logLevel = options.logLevel ?? config['log-level'] ?? 'warn';
  const platform = options.platform ?? currentPlatform();
  const hosts = options.hosts?.length
    ? options.hosts
    : config.hosts?.length
      ? config.hosts
      : [defaultListenHost({ platform: platform.os, runRoot: options.runRoot || config['exec-root'] ? runRoot : undefined })];

  await mkdir(runRoot, { recursive: true, mode: 0o755 });
  await mkdir(root, { recursive: true, mode: 0o711 });
  const pidFile = join(runRoot, 'berthd.pid');
  await takePidFile(pidFile);

  let engine: EngineLike | undefined;
  const listeners: Listener[] = [];
  let app: FastifyInstance | undefined;
  let cri: CriServer | undefined;
  try {
    const { hosts: _h, 'data-root': _d, 'exec-root': _e, 'log-level': _l, cri: _c, ...engineConfig } = config;
    // the CRI speaks to the same runtime driver as the engine (exec, attach, stats, log reopening)
    let drivers: EngineDrivers | undefined;
    const driverSet = driverSetFor(platform);
    const captureDrivers = async (ctx: DriverContext): Promise<EngineDrivers> => (drivers = await driverSet(ctx));
    engine = options.engine ?? (await Engine.open({ root, runRoot, config: engineConfig, drivers: captureDrivers, host: isolationHost(platform) }));
    app = buildApp(engine, {
      logLevel,
      root,
      insecureRegistries: config['insecure-registries'] ?? [],
      registryMirrors: config['registry-mirrors'] ?? [],
    });
    await app.ready();
    for (const host of hosts) listeners.push(await listen(app, host));
    const criAddress = options.cri ?? config.cri?.address;
    const runtime = drivers ? Object.values(drivers.runtimes)[0] : undefined;
    if (criAddress && runtime && engine instanceof Engine) {
      cri = await startCri({ ...config.cri, address: criAddress }, engine, runtime, root, app.log);
    }
  } catch (err) {
    await cri?.close().catch(() => {});
    for (const l of listeners) await l.close().catch(() => {});
    await app?.close().catch(() => {});
    await engine?.close().catch(() => {});
    await unlink(pidFile).catch(() => {});
    throw err;
  }
  const readyApp = app;
  const readyEngine = engine;
  readyApp.log.info({ hosts: listeners.map((l) => l.address), root, runRoot }, 'berthd listening');

  let closing: Promise<void> | undefined;
  return {
    addresses: listeners.map((l) => l.address),
    socketPath: listeners.map((l) => l.address).find((a) => a.startsWith('unix://'))?.slice('unix://'.length),
    engine: readyEngine,
    app: readyApp,
    pidFile,
    cri,
    close() {
      closing ??= (async () => {
        await cri?.close();
        await Promise.all(listeners.map((l) => l.close()));
        await readyApp.close();
        await readyEngine.close();
        await unlink(pidFile).catch(() => {});
      })();
      return closing;
    },
  };
}

/** Docker's rule: refuse to start while the pid in the pid file is alive. */
async function takePidFile(path: string): Promise<void> {
  const existing = await readFile(path, 'utf8').catch(() => '');
  const pid = Number.parseInt(existing.trim(), 10);
  if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) {
    throw new ConflictError(`pid file found, ensure berthd is not running or delete ${path} (pid ${pid})`);
  }
  await writeFile(path, `${process.pid}\n`, { mode: 0o644 });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
