// Every public package as `pnpm changeset publish` would upload it: the workspace manifest
// carries the release fields, and the tarball holds what an install of it alone needs.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manifestProblems, pack, packedProblems } from '../src/metadata.js';
import { publicPackages, workspacePackages } from '../src/workspace.js';

const dest = mkdtempSync(join(tmpdir(), 'berth-release-pack-'));
afterAll(() => rmSync(dest, { recursive: true, force: true }));

describe('the workspace', () => {
  it('finds every package folder pnpm does, and the public ones are the libraries, the drivers, the CRI and the two apps', () => {
    const all = workspacePackages().map((p) => p.path);
    expect(all).toEqual(expect.arrayContaining(['packages/runtime', 'apps/cli', 'apps/daemon', 'tooling/config']));
    const pub = publicPackages().map((p) => p.manifest.name).sort();
    expect(pub).toEqual([
      '@berth/cli',
      '@berth/cri',
      '@berth/daemon',
      '@berth/driver-linux',
      '@berth/driver-windows-hyperv',
      '@berth/driver-windows-process',
      '@berth/engine',
      '@berth/engine-api',
      '@berth/hcs',
      '@berth/image-format',
      '@berth/layer-store',
      '@berth/registry-client',
      '@berth/runtime',
    ]);
  });
});

describe.each(publicPackages().map((p) => [p.manifest.name, p] as const))('%s', (_name, pkg) => {
  it('declares the release metadata', () => {
    expect(manifestProblems(pkg)).toEqual([]);
  });
  it('packs into a tarball that stands alone', async () => {
    const packed = await pack(pkg, dest);
    expect(await packedProblems(packed)).toEqual([]);
  });
});

describe('install scripts', () => {
  let cli: Awaited<ReturnType<typeof pack>>;
  beforeAll(async () => {
    cli = await pack(publicPackages().find((p) => p.manifest.name === '@berth/cli')!, dest);
  });
  // @berth/cli's tarball under other manifests and file lists (only its install script to scan)
  const packedAs = (name: string, scripts: Record<string, string>, files: string[]): Parameters<typeof packedProblems>[0] => {
    const pkg = publicPackages().find((p) => p.manifest.name === name)!;
    return { pkg, tarball: cli.tarball, manifest: { ...pkg.manifest, scripts, devDependencies: undefined, dependencies: {}, bin: {}, exports: undefined }, files: ['package.json', 'README.md', ...files] };
  };

  it("packs @berth/cli with its postinstall alone of the workspace's scripts", () => {
    expect(cli.manifest.scripts).toEqual({ postinstall: 'node install/pin-node.cjs' });
    expect(cli.files).toContain('install/pin-node.cjs');
  });

  it("allows @berth/cli's postinstall, as it is and shipped, and no other", async () => {
    expect(await packedProblems(packedAs('@berth/cli', { postinstall: 'node install/pin-node.cjs' }, ['install/pin-node.cjs']))).toEqual([]);
    expect(await packedProblems(packedAs('@berth/cli', { postinstall: 'node install/pin-node.cjs' }, []))).toEqual([
      'its postinstall script runs node install/pin-node.cjs, which is not in the tarball',
    ]);
    expect(await packedProblems(packedAs('@berth/cli', { postinstall: 'node-gyp rebuild' }, []))).toEqual(['the published manifest has an postinstall script']);
    expect(await packedProblems(packedAs('@berth/cli', { install: 'node install/pin-node.cjs' }, ['install/pin-node.cjs']))).toEqual(['the published manifest has an install script']);
    expect(await packedProblems(packedAs('@berth/daemon', { postinstall: 'node install/pin-node.cjs' }, ['install/pin-node.cjs']))).toEqual(['the published manifest has an postinstall script']);
  });
});
