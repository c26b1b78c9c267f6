// The release as a user meets it: every public package published by `pnpm changeset publish`
// to a private registry, `npm i -g @berth/cli` on a machine with no build tools, the berthd
// it brings running busybox, and each library installed alone running its README example.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeDaemonNetwork, seededRegistry, type SeededRegistry } from '@berth/fixtures';
import { startPrebuiltMirror, type PrebuiltMirror } from '../src/prebuilt-mirror.js';
import { cleanNpmEnv, folderBytes, packagesWithInstallScripts, type NpmEnv } from '../src/npm-env.js';
import { startRegistry, type Registry } from '../src/verdaccio.js';
import { ROOT, libraryPackages, publicPackages } from '../src/workspace.js';

const run = promisify(execFile);
// the machine's npm, found before PATH is narrowed to node and sh
const NPM = execFileSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).trim();
const figures: Record<string, string> = {};

let dir: string;
let registry: Registry | undefined;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-release-'));
  registry = await startRegistry(join(dir, 'registry'));
  // what CI's release job runs, against the private registry (publishing needs a token)
  const publishHome = join(dir, 'publish-home');
  await mkdir(publishHome, { recursive: true });
  await writeFile(join(publishHome, '.npmrc'), `registry=${registry.url}\n${registry.npmrcLines[1]}\n`);
  const t0 = performance.now();
  await run('pnpm', ['changeset', 'publish', '--no-git-tag'], {
    cwd: ROOT,
    env: { ...process.env, npm_config_userconfig: join(publishHome, '.npmrc'), npm_config_registry: registry.url },
    maxBuffer: 64 << 20,
    timeout: 150_000,
  });
  figures[`publish (changeset publish, ${publicPackages().length} packages)`] = `${((performance.now() - t0) / 1000).toFixed(1)} s`;
}, 240_000);

afterAll(async () => {
  await registry?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
  console.log(`release figures:\n${Object.entries(figures).map(([k, v]) => `  ${k}: ${v}`).join('\n')}`);
});

describe('pnpm changeset publish', () => {
  it('publishes every public package, without workspace ranges or devDependencies', async () => {
    for (const pkg of publicPackages()) {
      const res = await fetch(`${registry!.url}${pkg.manifest.name.replace('/', '%2f')}`);
      expect(res.status, pkg.manifest.name).toBe(200);
      const doc = (await res.json()) as { versions: Record<string, Record<string, unknown>> };
      const published = doc.versions[pkg.manifest.version]!;
      expect(published, pkg.manifest.name).toBeDefined();
      expect(JSON.stringify(published)).not.toContain('workspace:');
      expect(published['devDependencies'], pkg.manifest.name).toBeUndefined();
      expect(published['license']).toBe('Apache-2.0');
    }
  });
});

describe('npm i -g @berth/cli', () => {
  let npm: NpmEnv;
  let prefix: string;
  let daemon: ChildProcess | undefined;
  const network = isolatedNetwork();

  beforeAll(async () => {
    npm = await cleanNpmEnv(join(dir, 'cli-user'), registry!.npmrcLines);
    prefix = join(dir, 'cli-user', 'prefix');
  });
  afterAll(async () => {
    if (daemon && daemon.exitCode === null) {
      const exited = new Promise((r) => daemon!.once('exit', r));
      daemon.kill('SIGTERM');
      await exited;
    }
    await removeDaemonNetwork(network.bridge, network.bip);
  });

  it('installs from the registry with node alone on the PATH (no compiler; one install script, which names node on berth\'s #! line)', async () => {
    const t0 = performance.now();
    await run(NPM, ['i', '-g', '--prefix', prefix, '@berth/cli'], { cwd: npm.home, env: { ...npm.env, PATH: npm.toolsDir }, timeout: 150_000 });
    figures['npm i -g @berth/cli'] = `${((performance.now() - t0) / 1000).toFixed(1)} s`;
    const lib = join(prefix, 'lib', 'node_modules');
    figures['installed size of @berth/cli'] = `${((await folderBytes(join(lib, '@berth', 'cli'))) / 2 ** 20).toFixed(1)} MiB`;
    // @berth/cli's postinstall (apps/cli/install/pin-node.cjs) builds nothing: it writes the
    // node env would find on berth's first line, so no /usr/bin/env runs before each command
    expect(await packagesWithInstallScripts(lib)).toEqual(['@berth/cli']);
    expect((await readFile(join(lib, '@berth', 'cli', 'dist', 'berth.js'), 'utf8')).split('\n')[0]).toBe(`#!${join(npm.toolsDir, 'node')}`);
    expect(existsSync(join(prefix, 'bin', 'berth'))).toBe(true);
    expect(existsSync(join(prefix, 'bin', 'berthd'))).toBe(true);
    const { stdout } = await run(join(prefix, 'bin', 'berth'), ['--version'], { env: { ...npm.env, PATH: npm.toolsDir } });
    const { version } = JSON.parse(await readFile(join(ROOT, 'apps', 'cli', 'package.json'), 'utf8')) as { version: string };
    expect(stdout).toMatch(new RegExp(`^Berth version ${version.replace(/\./g, '\\.')}, build \\w+\\n$`));
  }, 180_000);

  it('installs with --ignore-scripts too: berth then starts through /usr/bin/env', async () => {
    const plain = join(dir, 'cli-user', 'prefix-no-scripts');
    await run(NPM, ['i', '-g', '--ignore-scripts', '--prefix', plain, '@berth/cli'], { cwd: npm.home, env: { ...npm.env, PATH: npm.toolsDir }, timeout: 150_000 });
    const launcher = join(plain, 'lib', 'node_modules', '@berth', 'cli', 'dist', 'berth.js');
    expect((await readFile(launcher, 'utf8')).split('\n')[0]).toBe('#!/usr/bin/env node');
    const { stdout } = await run(join(plain, 'bin', 'berth'), ['--version'], { env: { ...npm.env, PATH: npm.toolsDir } });
    expect(stdout).toMatch(/^Berth version \S+, build \w+\n$/);
    await rm(plain, { recursive: true, force: true });
  }, 180_000);

  it('starts the berthd it brings and runs busybox', async () => {
    const root = join(dir, 'cli-user', 'berth');
    const sock = join(root, 'run', 'berthd.sock');
    await mkdir(root, { recursive: true });
    await writeFile(join(root, 'daemon.json'), JSON.stringify(network));
    // the user's PATH: the prefix's bin first, then the host programs
    const env = { ...npm.env, PATH: `${join(prefix, 'bin')}:${process.env['PATH']}` };
    let output = '';
    const bin = join(prefix, 'bin');
    daemon = spawn(join(bin, 'berthd'), ['--root', join(root, 'root'), '--run-root', join(root, 'run'), '--host', `unix://${sock}`, '--config', join(root, 'daemon.json')], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    daemon.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    daemon.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    for (let i = 0; !existsSync(sock); i++) {
      if (daemon.exitCode !== null || i > 200) throw new Error(`berthd did not start:\n${output}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const res = await run(join(bin, 'berth'), ['-H', `unix://${sock}`, 'run', '--rm', 'busybox', 'echo', 'hello'], { env, timeout: 120_000 }).catch((err: { stdout: string; stderr: string }) => {
      throw new Error(`berth run failed: ${err.stderr}\nberthd:\n${output}`);
    });
    expect(res.stdout).toBe('hello\n');
    const ps = await run(join(bin, 'berth'), ['-H', `unix://${sock}`, 'ps', '-a', '-q'], { env });
    expect(ps.stdout).toBe('');
    daemonHost = `unix://${sock}`;
  }, 150_000);

  it('starts fast: berth --version and berth ps -a with 10 containers against node -e 0', async () => {
    const berth = join(prefix, 'bin', 'berth');
    const env = { ...npm.env, PATH: `${join(prefix, 'bin')}:${process.env['PATH']}`, BERTH_HOST: daemonHost, XDG_CACHE_HOME: join(npm.home, '.cache') };
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) ids.push((await run(berth, ['create', 'busybox', 'true'], { env })).stdout.trim());
    try {
      // alternated, so a busy machine weighs on all three alike; the first runs fill the code cache
      const commands: [string, string, string[]][] = [
        ['node -e 0', process.execPath, ['-e', '0']],
        ['berth --version', berth, ['--version']],
        ['berth ps -a (10 containers)', berth, ['ps', '-a']],
      ];
      const times = new Map<string, number[]>(commands.map(([label]) => [label, []]));
      for (let round = 0; round < 10; round++) {
        for (const [label, file, args] of commands) {
          const t0 = performance.now();
          const r = await run(file, args, { env });
          if (round >= 3) times.get(label)!.push(performance.now() - t0);
          if (label.startsWith('berth ps')) expect(r.stdout.trim().split('\n')).toHaveLength(11);
        }
      }
      const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
      const node = median(times.get('node -e 0')!);
      for (const [label] of commands) {
        const m = median(times.get(label)!);
        figures[`${label} (median of 7)`] = label === 'node -e 0' ? `${m.toFixed(0)} ms` : `${m.toFixed(0)} ms = node + ${(m - node).toFixed(0)} ms`;
      }
      // ps was answered by the package's short path (dist/berth-ps.js), which keeps its own
      // code cache beside the whole CLI's (there from `create`)
      const cached = (await readdir(join(npm.home, '.cache', 'berth'))).map((f) => f.replace(/-v\d.*$/, '')).sort();
      expect(cached).toEqual(['main', 'ps']);
    } finally {
      await run(berth, ['rm', '-f', ...ids], { env });
    }
  }, 120_000);

  // each library alone in a project of its own, running the example its README shows
  describe('each library package installed alone', () => {
    const examples = libraryPackages().flatMap((pkg) => {
      const example = readmeExample(join(pkg.dir, 'README.md'));
      return example === undefined ? [] : [{ name: pkg.manifest.name, ...example }];
    });
    const projects = new Map<string, { dir: string; env: NodeJS.ProcessEnv }>();
    let mirror: PrebuiltMirror | undefined;
    let images: SeededRegistry | undefined;

    beforeAll(async () => {
      mirror = await startPrebuiltMirror(join(dir, 'prebuilt'), join(ROOT, 'packages', 'layer-store'));
      images = await seededRegistry();
      const t0 = performance.now();
      await Promise.all(
        examples.map(async ({ name, code, alongside }) => {
          const project = join(dir, 'lib-users', name.replace('@berth/', ''));
          const user = await cleanNpmEnv(project, registry!.npmrcLines, mirror!.env);
          const app = join(project, 'app');
          await mkdir(app);
          await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
          await writeFile(join(app, 'example.mjs'), code);
          await run(NPM, ['i', name, ...alongside], { cwd: app, env: user.env, timeout: 150_000 }).catch((err: { stderr: string }) => {
            throw new Error(`npm i ${[name, ...alongside].join(' ')} failed:\n${err.stderr}`);
          });
          projects.set(name, { dir: app, env: user.env });
        }),
      );
      figures['npm i of each library alone (in parallel)'] = `${((performance.now() - t0) / 1000).toFixed(1)} s`;
    }, 180_000);
    afterAll(async () => {
      await mirror?.close();
      await images?.stop();
    });

    it('the issue\'s examples are all there', () => {
      expect(examples.map((e) => e.name)).toEqual(
        expect.arrayContaining(['@berth/image-format', '@berth/layer-store', '@berth/registry-client', '@berth/engine-api', '@berth/driver-linux', '@berth/runtime', '@berth/engine']),
      );
    });

    it.each(examples.map((e) => e.name))('%s runs its README example', async (name) => {
      const project = projects.get(name)!;
      const args = name === '@berth/registry-client' ? [images!.busybox, 'busybox-oci'] : [];
      // node, then the host's programs (tar for layer-store's example, crun and conmon for those that run containers)
      const env = { ...project.env, PATH: `${project.env['PATH']}:${process.env['PATH']}`, DOCKER_HOST: daemonHost };
      const { stdout } = await run(process.execPath, ['example.mjs', ...args], { cwd: project.dir, env, timeout: 60_000 });
      const expected: Record<string, RegExp> = {
        '@berth/image-format': /^docker\.io\/library\/busybox:1\.36 -> busybox:1\.36\n1 layer sha256:[0-9a-f]{64}\n$/,
        '@berth/engine-api': /^server \d+\.\d+\.\d+, API 1\.\d+\n$/,
        '@berth/layer-store': /^sha256:[0-9a-f]{64} 2 entries\nhello from a layer\n$/,
        '@berth/driver-linux': /^exit 3: hello from box\n$/,
        '@berth/runtime': /^exit 3: hello from box\nexit 137 = 128 \+ SIGKILL \(9\)\n$/,
        '@berth/engine': /^exit 3: hello from box\n$/,
        '@berth/registry-client': /pulled sha256:[0-9a-f]{64} with 1 layer\(s\) into busybox-oci\n$/,
      };
      expect(stdout).toMatch(expected[name] ?? /./);
      if (name === '@berth/registry-client') {
        // skopeo reads what it wrote: a real OCI layout
        const inspect = await run('skopeo', ['inspect', '--raw', `oci:${join(project.dir, 'busybox-oci')}:latest`]);
        expect(JSON.parse(inspect.stdout).layers).toHaveLength(1);
      }
    });

    it('better-sqlite3 (under @berth/layer-store) took its prebuilt addon: nothing was compiled', () => {
      expect(mirror!.downloads()).toBeGreaterThanOrEqual(1);
    });
  });
});

let daemonHost = '';

/**
 * The README's runnable example: its first ```js example block. Packages named after
 * `example` (```js example @berth/driver-linux) are installed alongside the package.
 */
function readmeExample(readme: string): { code: string; alongside: string[] } | undefined {
  if (!existsSync(readme)) return undefined;
  const m = /^```js example([^\n]*)\n([\s\S]*?)^```$/m.exec(readFileSync(readme, 'utf8'));
  return m ? { code: m[2]!, alongside: m[1]!.split(/\s+/).filter(Boolean) } : undefined;
}

/** Its own bridge and subnets, as apps/daemon/test/support/daemon.ts gives each test daemon. */
function isolatedNetwork(): { bridge: string; bip: string; 'network-pool': { base: string; prefixLen: number } } {
  const n = Math.floor(Math.random() * 0xffffff);
  return {
    bridge: `bt${n.toString(16).padStart(6, '0')}`,
    bip: `10.${200 + (n % 50)}.${(n >> 8) % 256}.1/24`,
    'network-pool': { base: `10.${250 + (n % 5)}.${((n >> 4) % 16) * 16}.0/20`, prefixLen: 24 },
  };
}
