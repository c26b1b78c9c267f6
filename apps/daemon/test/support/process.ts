import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { EngineClient } from '@berth/engine-api';

const APP_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface DaemonProcess {
  child: ChildProcess;
  pid: number;
  output(): string;
  /** Resolves with the exit code / signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** berthd as its own process (main.ts run from source), ready when /_ping answers (bounded 20 s). */
export async function spawnDaemon(args: { root: string; runRoot: string; socketPath: string; configFile: string }): Promise<DaemonProcess> {
  const child = spawn(
    process.execPath,
    ['--conditions=source', '--import', 'tsx', join(APP_DIR, 'src', 'main.ts'), '--root', args.root, '--run-root', args.runRoot, '--host', `unix://${args.socketPath}`, '--config', args.configFile],
    { cwd: APP_DIR, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  let dead = false;
  void exited.then(() => (dead = true));
  const client = new EngineClient({ socketPath: args.socketPath });
  try {
    for (let i = 0; i < 200; i++) {
      if (dead) throw new Error(`berthd exited during startup:\n${out}`);
      try {
        await client.ping();
        return { child, pid: child.pid!, output: () => out, exited };
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    child.kill('SIGKILL');
    throw new Error(`berthd did not answer within 20 s:\n${out}`);
  } finally {
    client.close();
  }
}
