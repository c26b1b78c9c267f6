import { Command, Option } from 'commander';
import { BerthError } from '@berth/image-format';
import { startDaemon, DEFAULT_ROOT, DEFAULT_RUN_ROOT, type Daemon } from './daemon.js';
import { DEFAULT_CONFIG_FILE, readDaemonConfig } from './config.js';
import { checkHostPrograms } from './host-check.js';
import { BERTH_VERSION } from './version.js';

const collect = (value: string, previous: string[]): string[] => [...previous, value];

const program = new Command()
  .name('berthd')
  .description('Berth daemon: serves the Docker Engine API')
  .version(BERTH_VERSION)
  .option('--root <dir>', `state root (default ${DEFAULT_ROOT})`)
  .option('--run-root <dir>', `runtime root for the socket and pid file (default ${DEFAULT_RUN_ROOT})`)
  .option('-H, --host <address>', 'unix:///path or tcp://127.0.0.1:PORT (repeatable)', collect, [] as string[])
  .option('--cri <address>', 'also serve the Kubernetes CRI (gRPC) on unix:///path, e.g. unix:///run/berth/cri.sock')
  .option('--config <file>', `daemon config file (default ${DEFAULT_CONFIG_FILE}, ignored when missing)`)
  .addOption(new Option('--log-level <level>', 'log level (default warn)').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']))
  .parse();

const opts = program.opts<{ root?: string; runRoot?: string; host: string[]; config?: string; logLevel?: string; cri?: string }>();

let daemon: Daemon | undefined;
let stopping = false;

async function shutdown(signal: string): Promise<void> {
  if (stopping) {
    process.stderr.write(`berthd: ${signal} again, exiting now\n`);
    process.exit(1);
  }
  stopping = true;
  daemon?.app.log.warn(`berthd: ${signal}: shutting down (containers keep running)`);
  try {
    await daemon?.close();
    process.exit(0);
  } catch (err) {
    process.stderr.write(`berthd: shutdown failed: ${(err as Error).message}\n`);
    process.exit(1);
  }
}

// A route's stray promise must not take the daemon down: log it and keep serving.
process.on('unhandledRejection', (err) => {
  if (daemon) daemon.app.log.error({ err }, 'unhandled rejection');
  else process.stderr.write(`berthd: unhandled rejection: ${(err as Error)?.stack ?? String(err)}\n`);
});

process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));

try {
  const problem = await checkHostPrograms(await readDaemonConfig(opts.config ?? DEFAULT_CONFIG_FILE, opts.config !== undefined));
  if (problem) {
    process.stderr.write(`berthd: ${problem}\n`);
    process.exit(1);
  }
  daemon = await startDaemon({
    ...(opts.root ? { root: opts.root } : {}),
    ...(opts.runRoot ? { runRoot: opts.runRoot } : {}),
    ...(opts.host.length > 0 ? { hosts: opts.host } : {}),
    ...(opts.logLevel ? { logLevel: opts.logLevel } : {}),
    ...(opts.config ? { configFile: opts.config } : {}),
    ...(opts.cri ? { cri: opts.cri } : {}),
  });
  process.stderr.write(`berthd ${BERTH_VERSION} listening on ${daemon.addresses.join(', ')}\n`);
} catch (err) {
  // ours, and the SQLite addon's (build/sqlite-bindings.cjs): the message says it all, in the one line `berth` repeats
  const said = err instanceof BerthError || (err as NodeJS.ErrnoException).code === 'BERTH_SQLITE_ADDON';
  process.stderr.write(`berthd: ${said ? (err as Error).message : (err as Error).stack ?? String(err)}\n`);
  process.exit(1);
}
