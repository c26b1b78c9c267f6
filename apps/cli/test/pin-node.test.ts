// The package's postinstall (install/pin-node.cjs) names node on dist/berth.js's #! line
// instead of /usr/bin/env, only when the path is the very node env would run, and never
// fails or half-writes: anything that does not fit keeps env.
import { execFile } from 'node:child_process';
import { chmod, cp, mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCli, removeCli } from './support/cli.js';

const run = promisify(execFile);
const require = createRequire(import.meta.url);
const { pin } = require('../install/pin-node.cjs') as { pin(pkgDir: string, execPath: string, pathVar: string | undefined): string | undefined };

describe('install/pin-node.cjs', () => {
  let work: string;
  let bin: string;

  beforeAll(async () => {
    [work, bin] = await Promise.all([mkdtemp(join(tmpdir(), 'berth-pin-node-')), buildCli()]);
  }, 180_000);
  afterAll(async () => {
    await removeCli(bin);
    if (work) await rm(work, { recursive: true, force: true });
  });

  /** An installed package: the built dist and the script, as the tarball lays them out. */
  async function installed(name: string): Promise<string> {
    const pkg = join(work, name, 'lib', 'node_modules', '@berth', 'cli');
    await mkdir(join(pkg, 'install'), { recursive: true });
    await cp(dirname(bin), join(pkg, 'dist'), { recursive: true });
    await cp(join(import.meta.dirname, '..', 'install', 'pin-node.cjs'), join(pkg, 'install', 'pin-node.cjs'));
    return pkg;
  }
  /** A PATH folder whose `node` is a symlink to the node running the tests (as nvm's, Homebrew's). */
  async function nodeDir(name: string): Promise<string> {
    const dir = join(work, name);
    await mkdir(dir, { recursive: true });
    await symlink(process.execPath, join(dir, 'node'));
    return dir;
  }
  const firstLine = async (pkg: string): Promise<string> => (await readFile(join(pkg, 'dist', 'berth.js'), 'utf8')).split('\n')[0]!;

  it('names the node on PATH, unresolved, when it is the node installing; berth then runs without env', async () => {
    const pkg = await installed('plain');
    const nodes = await nodeDir('plain-bin');
    // as npm runs a postinstall: node, the script, PATH of the user's shell
    await run(process.execPath, [join(pkg, 'install', 'pin-node.cjs')], { env: { ...process.env, PATH: `/nonexistent:${nodes}:/usr/bin:/bin` } });
    expect(await firstLine(pkg)).toBe(`#!${join(nodes, 'node')}`);
    // executable still, and the rest of the file as built
    const { stdout } = await run(join(pkg, 'dist', 'berth.js'), ['--version'], { env: { ...process.env, PATH: '/nonexistent' } });
    expect(stdout).toMatch(/^Berth version \S+, build \w+\n$/);
    const built = await readFile(bin, 'utf8');
    expect((await readFile(join(pkg, 'dist', 'berth.js'), 'utf8')).split('\n').slice(1)).toEqual(built.split('\n').slice(1));
    expect(built.split('\n')[0]).toBe('#!/usr/bin/env node');
    // a second run (npm rebuild) leaves it as it is
    expect(pin(pkg, process.execPath, `${nodes}`)).toBeUndefined();
    expect(await firstLine(pkg)).toBe(`#!${join(nodes, 'node')}`);
    // and after node moved, names the node now found, or env again when none fits
    const moved = await nodeDir('moved-bin');
    expect(pin(pkg, process.execPath, moved)).toBe(`#!${join(moved, 'node')}`);
    expect(await firstLine(pkg)).toBe(`#!${join(moved, 'node')}`);
    expect(pin(pkg, process.execPath, '/nonexistent')).toBe('#!/usr/bin/env node');
    expect(await firstLine(pkg)).toBe('#!/usr/bin/env node');
    expect((await readFile(join(pkg, 'dist', 'berth.js'), 'utf8')).split('\n').slice(1)).toEqual(built.split('\n').slice(1));
  });

  it('leaves a first line it did not write', async () => {
    const pkg = await installed('foreign');
    const launcher = join(pkg, 'dist', 'berth.js');
    const rest = (await readFile(launcher, 'utf8')).split('\n').slice(1).join('\n');
    for (const line of ['#!/usr/bin/env -S node --flag', '#!/bin/sh', '"use strict";']) {
      await writeFile(launcher, `${line}\n${rest}`);
      expect(pin(pkg, process.execPath, await nodeDir(`foreign-${line.length}`))).toBeUndefined();
      expect(await firstLine(pkg)).toBe(line);
    }
  });

  it('keeps env for a shim, another node, no node, an unfit path, the workspace and a read-only install', async () => {
    const pkg = await installed('kept');
    // a version manager's shim: a script, not the node installing
    const shims = join(work, 'shims');
    await mkdir(shims, { recursive: true });
    await writeFile(join(shims, 'node'), `#!/bin/sh\nexec ${process.execPath} "$@"\n`);
    await chmod(join(shims, 'node'), 0o755);
    expect(pin(pkg, process.execPath, `${shims}:${await nodeDir('after-shim')}`)).toBeUndefined();
    // not executable, a folder, relative PATH entries: skipped as env skips them
    const odd = join(work, 'odd');
    await mkdir(join(odd, 'node'), { recursive: true });
    expect(pin(pkg, process.execPath, `${odd}::.:relative`)).toBeUndefined();
    expect(pin(pkg, process.execPath, undefined)).toBeUndefined();
    // a path the kernel would split or cut
    expect(pin(pkg, process.execPath, await nodeDir('with space'))).toBeUndefined();
    expect(pin(pkg, process.execPath, await nodeDir(`long-${'x'.repeat(120)}`))).toBeUndefined();
    expect(await firstLine(pkg)).toBe('#!/usr/bin/env node');
    // the workspace's package (src/ beside dist/) is rebuilt, never pinned
    await mkdir(join(pkg, 'src'));
    expect(pin(pkg, process.execPath, await nodeDir('workspace-bin'))).toBeUndefined();
    await rm(join(pkg, 'src'), { recursive: true });
    expect(await firstLine(pkg)).toBe('#!/usr/bin/env node');
    // no dist at all (an install script run before a build): nothing, no error
    const empty = join(work, 'empty-pkg');
    await mkdir(empty, { recursive: true });
    expect(pin(empty, process.execPath, await nodeDir('empty-bin'))).toBeUndefined();
    expect(await readdir(empty)).toEqual([]);
    const r = await run(process.execPath, [join(pkg, 'install', 'pin-node.cjs')], { env: { ...process.env, PATH: '/nonexistent' } });
    expect(r.stdout + r.stderr).toBe('');
  });

  it('leaves a launcher it cannot replace whole, and no temporary file', async () => {
    const pkg = await installed('read-only');
    const dist = join(pkg, 'dist');
    const nodes = await nodeDir('ro-bin');
    // a real read-only mount, in a mount namespace of its own (gone with the command)
    const script = `mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"`;
    await run('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script, dist, process.execPath, join(pkg, 'install', 'pin-node.cjs')], {
      env: { ...process.env, PATH: `${nodes}:/usr/sbin:/usr/bin:/sbin:/bin` },
    });
    expect(await firstLine(pkg)).toBe('#!/usr/bin/env node');
    expect((await readdir(dist)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});
