import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { buildCli, removeCli } from './support/cli.js';

// berth ships as one CommonJS file: node then starts it without its ESM loader.
describe('the berth bundle', () => {
  let bin: string;
  let links: string;
  beforeAll(async () => {
    [bin, links] = await Promise.all([buildCli(), mkdtemp(join(tmpdir(), 'berth-bundle-links-'))]);
  }, 120_000);
  afterAll(async () => {
    await removeCli(bin);
    if (links) await rm(links, { recursive: true, force: true });
  });

  it('is CommonJS next to a package.json that says so, and runs through a symlink', async () => {
    expect(JSON.parse(await readFile(join(dirname(bin), 'package.json'), 'utf8'))).toEqual({ type: 'commonjs' });
    const text = await readFile(bin, 'utf8');
    expect(text.startsWith('#!/usr/bin/env node\n"use strict";')).toBe(true);
    expect(text).not.toMatch(/^import /m);
    const link = join(links, 'berth');
    await symlink(bin, link);
    const { stdout } = await promisify(execFile)(link, ['--version']);
    expect(stdout).toMatch(/^Berth version \d+\.\d+\.\d+, build \S+\n$/);
  });

  it('loads only what a command needs: nothing for --version, no crypto, child_process or zlib for ps', async () => {
    // a preload that reports the node modules loaded after node's own start
    const probe = join(links, 'probe.cjs');
    await writeFile(probe, "const s = new Set(process.moduleLoadList); process.on('exit', () => require('fs').writeSync(2, JSON.stringify(process.moduleLoadList.filter((m) => !s.has(m)))));\n");
    const loaded = async (args: string[]): Promise<string[]> => {
      const env = { ...process.env, XDG_CACHE_HOME: join(links, 'xdg-probe'), BERTH_HOST: `unix://${join(links, 'none.sock')}` };
      const r = await promisify(execFile)(process.execPath, ['--require', probe, bin, ...args], { env }).catch((err: { stderr: string }) => err);
      return JSON.parse(r.stderr.slice(r.stderr.lastIndexOf('['))) as string[];
    };
    expect(await loaded(['--version'])).toEqual([]);
    const ps = await loaded(['ps', '-a']);
    expect(ps).toContain('NativeModule http');
    for (const heavy of ['crypto', 'child_process', 'zlib', 'internal/fs/promises', 'readline']) expect(ps).not.toContain(`NativeModule ${heavy}`);
  });

  it('keeps V8 code for berth-main.js under $XDG_CACHE_HOME/berth, and shrugs off a bad cache', async () => {
    const cache = join(links, 'xdg');
    const env = { ...process.env, XDG_CACHE_HOME: cache, BERTH_HOST: `unix://${join(links, 'none.sock')}` };
    // not ps: its line starts the short path's bundle first (test/fast-ps.test.ts)
    const help = async (): Promise<string> => (await promisify(execFile)(process.execPath, [bin, 'images', '--help'], { env })).stdout;
    const first = await help();
    expect(first).toContain('Usage: berth images');
    const files = await readdir(join(cache, 'berth'));
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/^main-v\d+.*\.cache$/);
    expect((await stat(join(cache, 'berth', files[0]!))).size).toBeGreaterThan(10_000);
    await writeFile(join(cache, 'berth', files[0]!), 'not V8 code');
    expect(await help()).toBe(first);
    // rejected, so written again
    expect((await stat(join(cache, 'berth', files[0]!))).size).toBeGreaterThan(10_000);
    expect(await help()).toBe(first);
  });
});
