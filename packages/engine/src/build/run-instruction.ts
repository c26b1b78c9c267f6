import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chown, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { InvalidArgumentError, NotFoundError, UnsupportedError } from '@berth/image-format';
import type { Instruction } from './dockerfile.js';
import type { BuildImageStore } from './image-store.js';
import type { CacheMounts } from './cache-mounts.js';
import { commandArgv } from './config-steps.js';
import { hashPlan, planCopy } from './copy-plan.js';
import { HEREDOC_SCRIPT_DIR, heredocRunCommand } from './heredoc.js';
import { LayeredFs } from './layered-fs.js';
import { parseMountSpec, type MountSpec } from './run-mounts.js';
import type { WordExpander } from './words.js';

const run = promisify(execFile);

/** What a RUN's mounts are made from. */
export interface RunEnv {
  store: BuildImageStore;
  cacheMounts: CacheMounts;
  /** The build context. */
  context: LayeredFs;
  /** This build's scratch directory (removed with the build). */
  tmpDir: string;
  /** `--secret id=...` values given to the build; never written to an image or the cache. */
  secrets: Record<string, Buffer>;
  /** `from=` of a mount: a stage (name or index) or an image, to its image ID ('' for scratch). */
  sourceImage(from: string): Promise<string>;
}

/** HostConfig.Mounts entries for the RUN's container. */
export type ContainerMount = { Type: 'bind'; Source: string; Target: string; ReadOnly: boolean } | { Type: 'tmpfs'; Target: string; TmpfsOptions?: { SizeBytes?: number } };

export interface RunSetup {
  mounts: ContainerMount[];
  /** Secrets given as environment (`env=`): for the process only. */
  env: string[];
  /** Mount points the runtime made in the rootfs, left out of the layer (image-relative). */
  stubs: string[];
  release(): Promise<void>;
}

export interface RunPlan {
  argv: string[];
  /** What the step's cache key covers beyond the command: the mounts, their sources' content. */
  key: string;
  network?: 'none';
  /** Makes the mounts (on a cache miss); `image` is the stage's tree, for which targets exist. */
  setup(image: LayeredFs): Promise<RunSetup>;
}

/** A RUN's command (heredocs as BuildKit runs them), network and mounts. */
export async function planRun(env: RunEnv, ins: Instruction, shell: string[] | undefined, ex: WordExpander): Promise<RunPlan> {
  let argv: string[];
  let script: { name: string; data: string } | undefined;
  if (ins.heredocs?.length && !ins.json) {
    const r = heredocRunCommand(ins.args[0] ?? '', ins.heredocs);
    script = r.script;
    argv = commandArgv({ ...ins, args: [r.command] }, shell);
  } else argv = commandArgv(ins, shell);
  const network = ins.flags['network'];
  if (network === 'host') throw new UnsupportedError('RUN --network=host needs the network.host entitlement, which Berth\'s builder does not grant');
  if (ins.flags['security'] === 'insecure') throw new UnsupportedError('RUN --security=insecure needs the security.insecure entitlement, which Berth\'s builder does not grant');
  const mounts: MountSpec[] = [];
  for (const spec of ins.flagLists?.['mount'] ?? []) {
    try {
      mounts.push(parseMountSpec(spec, (v) => ex.word(v)));
    } catch (err) {
      throw err instanceof UnsupportedError ? err : new InvalidArgumentError(`RUN --mount=${spec}: ${(err as Error).message}`);
    }
  }
  const seen = new Set<string>();
  for (const m of mounts) {
    if (!m.target) continue;
    if (seen.has(m.target)) throw new InvalidArgumentError(`RUN --mount: duplicate mount target ${m.target}`);
    seen.add(m.target);
  }
  const key = createHash('sha256');
  if (script) key.update(`script ${script.name}\n${script.data}`);
  if (network === 'none') key.update('network none\n');
  // Resolved once: the key and the mounts see the same stage images.
  const images = new Map<string, string>();
  for (const m of mounts) {
    if (m.from !== undefined && !images.has(m.from)) images.set(m.from, await env.sourceImage(m.from));
    key.update(JSON.stringify(m));
    // A bind's content is part of what the RUN does; a cache's is not (BuildKit's rule); a secret's never is.
    if (m.type === 'bind') key.update(m.from !== undefined ? `image ${images.get(m.from)}` : `context ${await hashTree(env.context, m.source)}`);
    if (m.type === 'cache' && m.from !== undefined) key.update(`image ${images.get(m.from)}`);
  }
  return {
    argv,
    key: mounts.length || script || network === 'none' ? ` mounts:${key.digest('hex')}` : '',
    ...(network === 'none' ? { network: 'none' as const } : {}),
    setup: (image) => setupMounts(env, mounts, images, script, image),
  };
}

/** A digest of a tree's names, modes, owners and contents (a bind source). */
async function hashTree(fs: LayeredFs, source: string): Promise<string> {
  const plan = await planCopy({ sources: [source || '/'], from: fs, fromContext: true, dest: '/m/', image: new LayeredFs([]), extractArchives: false, instruction: 'RUN --mount' });
  return hashPlan(plan);
}

async function setupMounts(env: RunEnv, specs: MountSpec[], images: Map<string, string>, script: { name: string; data: string } | undefined, image: LayeredFs): Promise<RunSetup> {
  const mounts: ContainerMount[] = [];
  const extraEnv: string[] = [];
  const stubs: string[] = [];
  const cleanups: (() => Promise<unknown>)[] = [];
  const scratch = async (prefix: string): Promise<string> => {
    const dir = await mkdtemp(join(env.tmpDir, prefix));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    return dir;
  };
  /** An image's tree, mounted read-only until the RUN ends. */
  const imageTree = async (imageId: string): Promise<LayeredFs> => {
    const chainId = imageId ? env.store.get(imageId)?.chainId : undefined;
    if (!chainId) return new LayeredFs([await scratch('empty-')]);
    const dir = join(env.tmpDir, `tree-${randomBytes(6).toString('hex')}`);
    await env.store.mount(chainId, dir);
    cleanups.push(() => env.store.unmount(dir));
    return new LayeredFs([dir]);
  };
  const sourceOf = async (m: MountSpec): Promise<string> => {
    const tree = m.from === undefined ? env.context : await imageTree(images.get(m.from)!);
    const e = await tree.stat(m.source || '/');
    if (!e) throw new NotFoundError(`RUN --mount: ${m.source || '/'} not found in ${m.from === undefined ? 'the build context' : m.from}`);
    return e.hostPath;
  };
  try {
    if (script) {
      const dir = await scratch('script-');
      await writeFile(join(dir, script.name), script.data, { mode: 0o755 });
      mounts.push({ Type: 'bind', Source: dir, Target: HEREDOC_SCRIPT_DIR, ReadOnly: true });
    }
    for (const m of specs) {
      if (m.type === 'secret') {
        const value = env.secrets[m.id];
        if (value === undefined) {
          if (m.required) throw new InvalidArgumentError(`secret ${m.id}: not found (give it with --secret id=${m.id},src=<file>)`);
          continue;
        }
        if (m.env) extraEnv.push(`${m.env}=${value.toString('utf8')}`);
        if (!m.target) continue;
        const dir = await scratch('secret-');
        const file = join(dir, 'value');
        await writeFile(file, value, { mode: m.mode ?? 0o400 });
        await chown(file, m.uid ?? 0, m.gid ?? 0);
        mounts.push({ Type: 'bind', Source: file, Target: m.target, ReadOnly: true });
      } else if (m.type === 'tmpfs') {
        mounts.push({ Type: 'tmpfs', Target: m.target, ...(m.size ? { TmpfsOptions: { SizeBytes: m.size } } : {}) });
      } else if (m.type === 'cache') {
        const init = m.from !== undefined ? async (dir: string) => copyTree(await sourceOf(m), dir) : undefined;
        const c = await env.cacheMounts.acquire(m, init);
        cleanups.push(c.release);
        mounts.push({ Type: 'bind', Source: c.dir, Target: m.target, ReadOnly: m.readonly });
      } else {
        let source = await sourceOf(m);
        if (!m.readonly) {
          // rw: the RUN may write, and what it writes is thrown away with a copy
          const dir = await scratch('bind-');
          await copyTree(source, join(dir, 'copy'));
          source = join(dir, 'copy');
        }
        mounts.push({ Type: 'bind', Source: source, Target: m.target, ReadOnly: m.readonly });
      }
      if (m.target && !(await image.lstat(m.target))) stubs.push(m.target.slice(1));
    }
  } catch (err) {
    await release(cleanups);
    throw err;
  }
  // Parents before children: the runtime mounts in order.
  mounts.sort((a, b) => a.Target.split('/').length - b.Target.split('/').length);
  return { mounts, env: extraEnv, stubs, release: () => release(cleanups) };
}

async function release(cleanups: (() => Promise<unknown>)[]): Promise<void> {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
}

/** `src` (file or directory) copied to `dest` with modes, owners and times. */
async function copyTree(src: string, dest: string): Promise<void> {
  if ((await stat(src)).isDirectory()) {
    await mkdir(dest, { recursive: true });
    await run('cp', ['-a', '--', `${src}/.`, dest]);
  } else await run('cp', ['-a', '--', src, dest]);
}
