import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseHostsToml, readRegistryHosts } from './registry-hosts.js';

describe('hosts.toml mirrors', () => {
  it('lists the pull hosts in order, then a server that is not the registry', () => {
    const text = [
      'server = "https://registry.k8s.io"',
      '',
      '[host."http://127.0.0.1:5000"]',
      '  capabilities = ["pull", "resolve"]',
      '[host."https://push-only.example"]',
      "  capabilities = ['push']",
      '[host."https://m2.example/v2"]',
      '  skip_verify = true',
    ].join('\n');
    expect(parseHostsToml(text, 'registry.k8s.io')).toEqual(['http://127.0.0.1:5000', 'https://m2.example']);
    expect(parseHostsToml('server = "http://127.0.0.1:5001"\n', 'gcr.io')).toEqual(['http://127.0.0.1:5001']);
  });

  it('reads one directory per registry, and daemon.json mirrors for docker.io', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hosts-'));
    try {
      await mkdir(join(dir, 'gcr.io'));
      await writeFile(join(dir, 'gcr.io', 'hosts.toml'), 'server = "https://gcr.io"\n[host."http://127.0.0.1:5000"]\ncapabilities = ["pull", "resolve"]\n');
      await mkdir(join(dir, 'empty.example'));
      expect(await readRegistryHosts(dir, ['mirror.example:5000'])).toEqual({ 'docker.io': ['mirror.example:5000'], 'gcr.io': ['http://127.0.0.1:5000'] });
      expect(await readRegistryHosts(join(dir, 'missing'))).toEqual({});
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
