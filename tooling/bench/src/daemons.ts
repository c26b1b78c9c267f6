import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnLogged, stopProcess, killPid, processesMentioning, run, type Daemonised } from './proc.js';
import { UnixHttp } from './unix-http.js';

/** The repository root (tooling/bench/src -> ../../..). */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const BERTHD_DIST = join(REPO_ROOT, 'apps/daemon/dist/berthd.js');
export const BERTHD_SOURCE = join(REPO_ROOT, 'apps/daemon/src/main.ts');
export const BERTH_CLI_DIST = join(REPO_ROOT, 'apps/cli/dist/berth.js');

export interface RunningDaemon {
  name: string;
  socketPath: string;
  host: string;
  pid: number;
  proc: Daemonised;
  http: UnixHttp;
  /** Environment for the `docker` CLI against this daemon. */
  dockerEnv: NodeJS.ProcessEnv;
  /** What was started (for the report). */
  describe: string;
  stop(): Promise<void>;
}

function dockerEnvFor(host: string, home: string): NodeJS.ProcessEnv {
  return { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin', HOME: home, DOCKER_HOST: host, DOCKER_CONFIG: join(home, 'docker-config'), DOCKER_CLI_HINTS: 'false' };
}

export interface BerthdOptions {
  /** Store root (on the scratch fs). */
  root: string;
  /** Socket, pid file, runtime state. */
  runRoot: string;
  /** HOME for the docker CLI, config, logs. */
  home: string;
  bridge: string;
  bip: string;
  logLevel?: string;
  /** Extra node flags, e.g. --cpu-prof. */
  nodeFlags?: string[];
  /** Another build's bundled berthd.js (default: this workspace's). */
  dist?: string;
}

/**
 * berthd as its own process: the bundled apps/daemon/dist/berthd.js (built by
 * `pnpm bench`), else main.ts from source through tsx (slower start, more RSS).
 */
/** `#!/usr/bin/env -S VAR=x node --flag ...` -> the variables and node's flags. */
export async function shebangCommand(file: string): Promise<{ env: Record<string, string>; nodeFlags: string[] }> {
  const first = (await readFile(file, 'utf8')).slice(0, 512).split('\n', 1)[0] ?? '';
  const words = first.replace(/^#!\S*env -S\s*/, '').split(/\s+/).filter(Boolean);
  const env: Record<string, string> = {};
  while (words[0] && /^[A-Z_][A-Z0-9_]*=/.test(words[0])) {
    const [k, ...v] = words.shift()!.split('=');
    env[k!] = v.join('=');
  }
  if (words.shift() !== 'node') throw new Error(`${file}: expected a node shebang, found ${JSON.stringify(first)}`);
  return { env, nodeFlags: words };
}

export async function startBerthd(o: BerthdOptions): Promise<RunningDaemon> {
  await mkdir(o.runRoot, { recursive: true });
  await mkdir(o.home, { recursive: true });
  const socketPath = join(o.runRoot, 'berthd.sock');
  const configFile = join(o.home, 'daemon.json');
  await writeFile(configFile, JSON.stringify({ bridge: o.bridge, bip: o.bip }) + '\n');
  const dist = o.dist ?? BERTHD_DIST;
  const fromDist = existsSync(dist);
  if (o.dist && !fromDist) throw new Error(`no berthd at ${o.dist}`);
  const entry = fromDist ? [dist] : ['--conditions=source', '--import', 'tsx', BERTHD_SOURCE];
  // Spawning the bundle through node (so that extra flags like --cpu-prof fit) skips its
  // shebang: take node's flags and environment from that line, and measure what users run.
  const shebang = fromDist ? await shebangCommand(dist) : { env: {}, nodeFlags: [] };
  const nodeFlags = [...shebang.nodeFlags, ...(o.nodeFlags ?? [])];
  const args = [...nodeFlags, ...entry, '--root', o.root, '--run-root', o.runRoot, '--host', `unix://${socketPath}`, '--config', configFile, '--log-level', o.logLevel ?? 'warn'];
  const logPath = join(o.home, `berthd-${Date.now()}.log`);
  const proc = spawnLogged(process.execPath, args, logPath, { ...process.env, ...shebang.env, NODE_OPTIONS: '' });
  const http = new UnixHttp(socketPath);
  try {
    await http.waitReady(30_000, proc.isAlive);
  } catch (err) {
    await stopProcess(proc, 2_000);
    http.close();
    const log = await readFile(logPath, 'utf8').catch(() => '');
    throw new Error(`berthd did not start: ${(err as Error).message}\n${log.slice(-800)}`);
  }
  const host = `unix://${socketPath}`;
  return {
    name: 'berthd',
    socketPath,
    host,
    pid: proc.pid,
    proc,
    http,
    dockerEnv: dockerEnvFor(host, o.home),
    describe: `berthd (${fromDist ? 'apps/daemon/dist/berthd.js' : 'src via tsx: dist not built'}), default bridge ${o.bridge} ${o.bip}`,
    async stop() {
      http.close();
      await stopProcess(proc);
    },
  };
}

export interface DockerdOptions {
  dataRoot: string;
  /** exec-root, socket, pid file; keep the path short (containerd socket paths). */
  execRoot: string;
  home: string;
  /** An existing bridge to use (`--bridge`), or none (`--bridge=none`). */
  bridge?: string;
}

/**
 * Debian's dockerd 20.10 with its own data/exec roots and socket, no iptables, and
 * either a bridge we made (default network = that bridge, no NAT) or no bridge. It
 * spawns its own containerd, which exits with it.
 */
export async function startDockerd(o: DockerdOptions): Promise<RunningDaemon> {
  await mkdir(o.execRoot, { recursive: true });
  await mkdir(o.home, { recursive: true });
  const socketPath = join(o.execRoot, 'docker.sock');
  const pidFile = join(o.execRoot, 'docker.pid');
  const args = ['--data-root', o.dataRoot, '--exec-root', join(o.execRoot, 'x'), '-H', `unix://${socketPath}`, '--pidfile', pidFile, '--iptables=false', '--ip-masq=false', `--bridge=${o.bridge ?? 'none'}`, '--log-level', 'warn'];
  const logPath = join(o.home, 'dockerd.log');
  const proc = spawnLogged('dockerd', args, logPath, { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin', HOME: o.home });
  const http = new UnixHttp(socketPath);
  const stop = async (): Promise<void> => {
    http.close();
    await stopProcess(proc, 20_000);
    // containerd and shims it left (they name our exec root on their command line)
    for (const p of await processesMentioning(o.execRoot)) await killPid(p.pid);
  };
  try {
    await http.waitReady(45_000, proc.isAlive);
  } catch (err) {
    await stop();
    const log = await readFile(logPath, 'utf8').catch(() => '');
    throw new Error(`dockerd did not start: ${(err as Error).message}\n${log.slice(-800)}`);
  }
  const host = `unix://${socketPath}`;
  const version = await run('dockerd', ['--version']).then((r) => r.stdout.trim()).catch(() => 'dockerd');
  return {
    name: 'dockerd',
    socketPath,
    host,
    pid: proc.pid,
    proc,
    http,
    dockerEnv: dockerEnvFor(host, o.home),
    describe: `${version} + its containerd, runc, overlay2, --iptables=false, ${o.bridge ? `--bridge=${o.bridge} (our bridge, no NAT)` : '--bridge=none'}`,
    stop,
  };
}

/** Global podman flags for a private store: root, runroot, tmpdir, cgroupfs, file events, runc. */
export function podmanArgs(root: string, runRoot: string, tmpDir: string): string[] {
  return ['--root', root, '--runroot', runRoot, '--tmpdir', tmpDir, '--storage-driver', 'overlay', '--cgroup-manager=cgroupfs', '--events-backend=file', '--runtime', 'runc'];
}
