import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBusyboxLayout, pushLayoutWithSkopeo, startRegistry, type RunningRegistry } from '@berth/fixtures';
import { openTestEngine, type TestEngine } from './helpers.js';

// registry.k8s.io is never reached: its hosts.toml sends pulls to a registry on 127.0.0.1
// (the way clusters point it at a local mirror), so a pull that works proves the mirror was used.
let t: TestEngine;
let registry: RunningRegistry;
let hostsDir: string;

beforeAll(async () => {
  registry = await startRegistry();
  const layout = await buildBusyboxLayout();
  await pushLayoutWithSkopeo(layout.layoutDir, 'latest', `${registry.host}/pause:3.9`);
  hostsDir = await mkdtemp(join(tmpdir(), 'certs.d-'));
  await mkdir(join(hostsDir, 'registry.k8s.io'));
  await writeFile(
    join(hostsDir, 'registry.k8s.io', 'hosts.toml'),
    `server = "https://registry.k8s.io"\n\n[host."http://${registry.host}"]\n  capabilities = ["pull", "resolve"]\n`,
  );
  t = await openTestEngine({ 'registry-hosts-dir': hostsDir });
});
afterAll(async () => {
  await t?.cleanup();
  await registry?.stop();
  if (hostsDir) await rm(hostsDir, { recursive: true, force: true });
});

describe('hosts.toml mirrors', () => {
  it('pulls registry.k8s.io images through the 127.0.0.1 mirror its hosts.toml names', async () => {
    const img = await t.engine.images.pull('registry.k8s.io/pause:3.9');
    expect(img.RepoTags).toContain('registry.k8s.io/pause:3.9');
    expect(img.RepoDigests[0]).toMatch(/^registry\.k8s\.io\/pause@sha256:[0-9a-f]{64}$/);
    // a registry without a hosts.toml has no mirror: the pull goes to it (and finds nothing here)
    await expect(t.engine.images.pull(`${registry.host}/missing:1`)).rejects.toThrow(/manifest unknown|not found/i);
  });
});
