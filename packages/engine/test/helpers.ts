import { mkdtemp, rm } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import tar from 'tar-stream';
import { afterAll, beforeAll } from 'vitest';
import { CniNetworkManager } from '@berth/driver-linux';
import { Engine } from '../src/index.js';
import type { EngineConfig, OutputChunk } from '../src/index.js';
import { linuxDriverSet } from '@berth/driver-linux';

export interface TestEngine {
  engine: Engine;
  root: string;
  runRoot: string;
  dir: string;
  cleanup(): Promise<void>;
}

/** An engine on its own temp root (short paths: conmon's socket paths are length-limited). */
export async function openTestEngine(config: EngineConfig = {}): Promise<TestEngine> {
  const dir = await mkdtemp('/tmp/be-');
  const root = join(dir, 'root');
  const runRoot = join(dir, 'run');
  const engine = await Engine.open({ drivers: linuxDriverSet,  root, runRoot, config });
  const t: TestEngine = {
    engine,
    root,
    runRoot,
    dir,
    // t.engine: a test may have reopened the root
    cleanup: async () => {
      await removeAll(t.engine);
      await t.engine.close();
      if (config.bridge) {
        // The default network's bridge and rules outlive the engine (as Docker's docker0 does): remove this test's.
        const manager = new CniNetworkManager({ stateDir: join(root, 'network'), netnsDir: join(runRoot, 'netns') });
        for (const n of await manager.listNetworks().catch(() => [])) await manager.removeNetwork(n.name).catch(() => undefined);
      }
      // Unmount anything left below the temp dir before deleting it.
      try {
        const mounts = execFileSync('findmnt', ['-rn', '-o', 'TARGET'], { encoding: 'utf8' }).split('\n').filter((m) => m.startsWith(dir)).sort().reverse();
        for (const m of mounts) execFileSync('umount', ['-l', m], { stdio: 'ignore' });
      } catch {
        // findmnt missing or nothing mounted
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
  return t;
}

export async function removeAll(engine: Engine): Promise<void> {
  try {
    for (const c of await engine.containers.list({ all: true })) await engine.containers.remove(c.Id, { force: true, volumes: true }).catch(() => undefined);
  } catch {
    // engine already closed
  }
}

export async function collect(stream: Readable): Promise<OutputChunk[]> {
  const out: OutputChunk[] = [];
  for await (const c of stream) out.push(c as OutputChunk);
  return out;
}

export function text(chunks: OutputChunk[], stream?: 'stdout' | 'stderr'): string {
  return chunks.filter((c) => !stream || c.stream === stream).map((c) => c.data.toString()).join('');
}

export function uniq(prefix: string): string {
  return `${prefix}-${Math.random().toString(36).slice(2, 8)}`;
}

/**
 * The engine a test file shares: opened on its own temp root with the built-in busybox
 * before the file's tests, cleaned up after them. Its fields are there once they run.
 */
export function busyboxEngine(config: EngineConfig = {}): TestEngine {
  const shared = {} as TestEngine;
  let opened: TestEngine | undefined;
  beforeAll(async () => {
    opened = await openTestEngine(config);
    Object.assign(shared, opened, { cleanup: shared.cleanup });
    await shared.engine.images.ensureBuiltin('busybox');
  });
  // The engine as the tests left it: one may have reopened the root.
  shared.cleanup = async () => {
    if (!opened) return;
    opened.engine = shared.engine;
    await opened.cleanup();
  };
  afterAll(() => shared.cleanup());
  return shared;
}

/** Runs `image` (no network) to its exit and returns what it wrote, stdout and stderr together. */
export async function runImage(engine: Engine, image: string, cmd?: string[]): Promise<string> {
  const { Id } = await engine.containers.create({ Image: image, ...(cmd ? { Cmd: cmd } : {}), HostConfig: { NetworkMode: 'none' } });
  const w = engine.containers.wait(Id, 'next-exit');
  await engine.containers.start(Id);
  await w;
  const out = text(await collect(await engine.containers.logs(Id, { stdout: true, stderr: true })));
  await engine.containers.remove(Id, { force: true });
  return out;
}

/** What an exec of `cmd` in container `id` wrote, stdout and stderr together. */
export async function execText(engine: Engine, id: string, cmd: string[]): Promise<string> {
  const { Id } = await engine.containers.execCreate(id, { Cmd: cmd, AttachStdout: true, AttachStderr: true });
  const s = await engine.containers.execStart(Id, {});
  return text(await collect(s!.output));
}

/** The entry names of a tar stream, in order. */
export async function tarNames(stream: Readable): Promise<string[]> {
  const ex = tar.extract();
  const out: string[] = [];
  const done = (async () => {
    for await (const e of ex) {
      out.push(e.header.name);
      e.resume();
    }
  })();
  stream.pipe(ex);
  await done;
  return out;
}
