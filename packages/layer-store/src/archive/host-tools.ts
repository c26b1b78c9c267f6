import { Worker } from 'node:worker_threads';
import { BerthError } from '@berth/image-format';

/**
 * The host programs the archive code needs (Node has no xattr or mknod API), run without
 * holding the event loop. Even an async spawn forks on the calling thread, and forking a
 * daemon of a few hundred MB stalls it for tens of ms here; so they are run from one
 * helper thread, with argv (never a shell), one at a time in the order asked.
 */
export type HostTool = 'getfattr' | 'setfattr' | 'mknod';

export interface ToolResult {
  status: number | null;
  stdout: Buffer;
  stderr: string;
}

// The helper thread's whole program: run an allowed tool with the argv it is sent, answer
// with how it ended and what it printed.
const THREAD_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { spawnSync } = require('node:child_process');
const TOOLS = new Set(['getfattr', 'setfattr', 'mknod']);
parentPort.on('message', ({ id, tool, args }) => {
  if (!TOOLS.has(tool)) return parentPort.postMessage({ id, error: 'not a host tool: ' + tool });
  const r = spawnSync(tool, args, { maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'pipe'] });
  parentPort.postMessage({ id, error: r.error ? r.error.message : undefined, status: r.status, stdout: r.stdout, stderr: r.stderr });
});
`;

interface ToolThread {
  run(tool: HostTool, args: string[]): Promise<ToolResult>;
}

let thread: ToolThread | undefined;

/** Runs `tool` from the helper thread; rejects only when it could not be run at all. */
export function runHostTool(tool: HostTool, args: string[]): Promise<ToolResult> {
  return toolThread().run(tool, args);
}

/** One helper thread for the process, started on first use; it never keeps the process alive. */
function toolThread(): ToolThread {
  if (thread) return thread;
  const worker = new Worker(THREAD_SOURCE, { eval: true });
  worker.unref();
  const waiting = new Map<number, { tool: string; resolve: (r: ToolResult) => void; reject: (e: Error) => void }>();
  let next = 0;
  const fail = (err: Error): void => {
    if (thread === self) thread = undefined;
    for (const w of waiting.values()) w.reject(err);
    waiting.clear();
  };
  worker.on('message', (m: { id: number; error?: string; status?: number | null; stdout?: Uint8Array; stderr?: Uint8Array }) => {
    const w = waiting.get(m.id);
    waiting.delete(m.id);
    if (waiting.size === 0) worker.unref();
    if (!w) return;
    if (m.error !== undefined) w.reject(new BerthError('Internal', `${w.tool} failed: ${m.error}`));
    else w.resolve({ status: m.status ?? null, stdout: Buffer.from(m.stdout ?? new Uint8Array()), stderr: Buffer.from(m.stderr ?? new Uint8Array()).toString('utf8').trim() });
  });
  worker.on('error', (err) => fail(new BerthError('Internal', `host tool thread failed: ${err.message}`)));
  worker.on('exit', (code) => fail(new BerthError('Internal', `host tool thread exited (${code})`)));
  const self: ToolThread = {
    run(tool, args) {
      return new Promise((resolve, reject) => {
        const id = next++;
        waiting.set(id, { tool, resolve, reject });
        // held while a request is out, so pending work is not cut short by exit
        worker.ref();
        worker.postMessage({ id, tool, args });
      });
    },
  };
  thread = self;
  return self;
}
