// Every public package as `pnpm changeset publish` would upload it: the workspace manifest
// carries the release fields, and the tarball holds what an install of it alone needs.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
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
