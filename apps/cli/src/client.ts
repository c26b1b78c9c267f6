// Which daemon the CLI talks to, and starting berthd when the default one is not there.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, realpathSync, accessSync, constants } from 'node:fs';
import { dirname, join, resolve, delimiter } from 'node:path';
import { BerthError } from '@berth/image-format';
import { ConnectionError, DEFAULT_HOST, DEFAULT_SOCKET_PATH, EngineClient, defaultHost, isNamedPipePath, parseHost } from '@berth/engine-api';
import { BERTH_VERSION } from './version.js';

export interface HostChoice {
  host: string;
  /** True when the user named the host (-H or BERTH_HOST): never start a daemon then. */
  explicit: boolean;
}

/** The run root the CLI expects berthd in: $BERTH_RUN, else /run/berth. */
export function runRoot(env: NodeJS.ProcessEnv = process.env): string {
  return env['BERTH_RUN'] || dirname(DEFAULT_SOCKET_PATH);
}

/**
 * -H wins, then BERTH_HOST, then the default socket, `$BERTH_RUN/berthd.sock` (default
 * /run/berth/berthd.sock; on Windows the named pipe //./pipe/berth_engine, as berthd).
 * DOCKER_HOST is not consulted.
 */
export function chooseHost(flag: string | undefined, env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): HostChoice {
  if (flag) return { host: flag, explicit: true };
  const fromEnv = env['BERTH_HOST'];
  if (fromEnv) return { host: fromEnv, explicit: true };
  if (platform === 'win32') return { host: defaultHost(platform), explicit: false };
  return { host: env['BERTH_RUN'] ? `unix://${join(runRoot(env), 'berthd.sock')}` : DEFAULT_HOST, explicit: false };
}

class DaemonUnreachableError extends BerthError {
  constructor(host: string, cause?: unknown) {
    // Our own reasons (berthd missing, exited, slow) are worth showing; socket errnos are not.
    const detail = cause instanceof BerthError && !(cause instanceof ConnectionError) ? ` (${cause.message})` : '';
    super('Unavailable', `Cannot connect to the Berth daemon at ${host}. Is berthd running?${detail}`, { cause });
  }
}

const CONNECT_ERRORS = new Set(['ENOENT', 'ECONNREFUSED', 'ECONNRESET', 'EACCES', 'ENOTSOCK', 'EHOSTUNREACH', 'ETIMEDOUT']);

/** True for errors that mean nobody answered at the address. */
function isConnectError(err: unknown): boolean {
  const code = err instanceof ConnectionError ? err.errno : (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' && CONNECT_ERRORS.has(code);
}

/**
 * A client for the chosen daemon. With the default host, an absent or silent socket
 * makes the CLI start berthd in the background and wait (bounded) for it to answer.
 */
export async function connect(choice: HostChoice): Promise<EngineClient> {
  const client = new EngineClient({ host: choice.host, userAgent: `Berth-Client/${BERTH_VERSION}` });
  try {
    await client.apiVersion();
    return client;
  } catch (err) {
    client.close();
    if (!isConnectError(err)) throw err;
    if (choice.explicit) throw new DaemonUnreachableError(choice.host, err);
  }
  await startBackgroundDaemon(choice.host);
  const retry = new EngineClient({ host: choice.host, userAgent: `Berth-Client/${BERTH_VERSION}` });
  await retry.apiVersion().catch((err: unknown) => {
    retry.close();
    throw new DaemonUnreachableError(choice.host, err);
  });
  return retry;
}

/**
 * berthd next to this CLI: the workspace's apps/daemon/dist/berthd.js, or, installed from
 * the registry, the @berth/daemon that @berth/cli depends on (npm nests it under the CLI's
 * node_modules in a global install, or hoists it beside); else `berthd` on PATH.
 */
export function findBerthd(): string[] | undefined {
  const self = process.argv[1];
  if (self) {
    let here: string;
    try {
      here = dirname(realpathSync(self));
    } catch {
      here = dirname(resolve(self));
    }
    const candidates = [
      join(here, '../../daemon/dist/berthd.js'),
      join(here, '../node_modules/@berth/daemon/dist/berthd.js'),
      join(here, 'berthd.js'),
    ];
    for (const candidate of candidates) {
      if (!existsSync(candidate)) continue;
      // Executed itself, its shebang sets node's memory flags; through node only if not executable.
      try {
        accessSync(candidate, constants.X_OK);
        return [candidate];
      } catch {
        return [process.execPath, candidate];
      }
    }
  }
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, 'berthd');
    try {
      accessSync(p, constants.X_OK);
      return [p];
    } catch {
      // not here
    }
  }
  return undefined;
}

const START_WAIT_MS = 8000;

/**
 * Starts berthd detached (it outlives this command) with its output in a log file, and
 * waits (bounded) for it to answer. BERTH_RUN, BERTH_ROOT and BERTH_DAEMON_CONFIG are
 * passed on as --run-root, --root and --config.
 */
async function startBackgroundDaemon(host: string): Promise<void> {
  const cmd = findBerthd();
  if (!cmd) throw new DaemonUnreachableError(host, new BerthError('NotFound', 'berthd not found next to berth or on PATH'));
  const env = process.env;
  const extra: string[] = [];
  if (env['BERTH_RUN']) extra.push('--run-root', runRoot(env));
  if (env['BERTH_ROOT']) extra.push('--root', env['BERTH_ROOT']);
  if (env['BERTH_DAEMON_CONFIG']) extra.push('--config', env['BERTH_DAEMON_CONFIG']);
  const log = openLog(env['BERTH_RUN'] ? [runRoot(env)] : ['/var/log/berth', runRoot(env)]);
  const [file, ...args] = cmd as [string, ...string[]];
  const child = spawn(file, [...args, ...extra], {
    detached: true,
    stdio: ['ignore', log?.fd ?? 'ignore', log?.fd ?? 'ignore'],
    env,
  });
  child.unref();
  let exited: number | null = null;
  child.once('exit', (code) => {
    exited = code ?? 1;
  });
  // berthd not executable after all (EACCES, ENOENT): an exit like any other, not a crash
  child.once('error', () => {
    exited ??= 127;
  });
  const target = parseHost(host);
  const socketPath = 'socketPath' in target ? target.socketPath : '';
  const deadline = Date.now() + START_WAIT_MS;
  while (Date.now() < deadline) {
    if (exited !== null) break;
    // a named pipe is not a file to wait for: ask it directly
    if (isNamedPipePath(socketPath) || existsSync(socketPath)) {
      const probe = new EngineClient({ host });
      try {
        await probe.ping();
        return;
      } catch {
        // not yet
      } finally {
        probe.close();
      }
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new DaemonUnreachableError(
    host,
    new BerthError(
      'Unavailable',
      exited !== null ? `berthd exited with code ${exited}${lastWords(log?.path)}; see ${log?.path ?? 'its log'}` : 'berthd did not answer in time',
    ),
  );
}

/**
 * What berthd said as it gave up (its last line, `berthd: ...`), so that a host without
 * crun or conmon reads the missing packages in berth's own error.
 */
function lastWords(logPath: string | undefined): string {
  if (!logPath) return '';
  try {
    const text = readFileSync(logPath).subarray(-4096).toString('utf8');
    const line = text.trimEnd().split('\n').pop() ?? '';
    return line.startsWith('berthd: ') ? `: ${line.slice('berthd: '.length)}` : '';
  } catch {
    return '';
  }
}

function openLog(dirs: string[]): { fd: number; path: string } | undefined {
  for (const dir of dirs) {
    try {
      mkdirSync(dir, { recursive: true });
      const path = join(dir, 'berthd.log');
      return { fd: openSync(path, 'a'), path };
    } catch {
      // try the next place
    }
  }
  return undefined;
}
