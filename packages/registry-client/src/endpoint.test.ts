import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiHost, hostOf, isLoopbackRegistry, resolveEndpoint } from './endpoint.js';

let certsDir: string;
beforeAll(async () => {
  certsDir = await mkdtemp(join(tmpdir(), 'rc-certsd-'));
  await mkdir(join(certsDir, 'reg.example:5000'), { recursive: true });
  await writeFile(join(certsDir, 'reg.example:5000', 'ca.crt'), 'CA PEM');
  await writeFile(join(certsDir, 'reg.example:5000', 'client.cert'), 'CERT PEM');
  await writeFile(join(certsDir, 'reg.example:5000', 'client.key'), 'KEY PEM');
  await mkdir(join(certsDir, '127.0.0.1:9999'), { recursive: true });
  await writeFile(join(certsDir, '127.0.0.1:9999', 'ca.crt'), 'LOCAL CA');
});
afterAll(() => rm(certsDir, { recursive: true, force: true }));

describe('endpoints', () => {
  it('maps docker.io to registry-1.docker.io and splits hosts', () => {
    expect(apiHost('docker.io')).toBe('registry-1.docker.io');
    expect(apiHost('ghcr.io')).toBe('ghcr.io');
    expect(hostOf('127.0.0.1:5000')).toBe('127.0.0.1');
    expect(hostOf('[::1]:5000')).toBe('::1');
    expect(hostOf('::1')).toBe('::1');
  });

  it('knows loopback registries', () => {
    for (const r of ['localhost', 'localhost:5000', '127.0.0.1:5000', '127.3.2.1', '[::1]:5000']) expect(isLoopbackRegistry(r)).toBe(true);
    for (const r of ['docker.io', '10.0.0.1:5000', 'example.com', '128.0.0.1']) expect(isLoopbackRegistry(r)).toBe(false);
  });

  it('uses verified https for a normal registry, with certs.d CA and client pair', async () => {
    const e = await resolveEndpoint('reg.example:5000', { certsDir });
    expect(e.baseUrl).toBe('https://reg.example:5000');
    expect(e.fallbackUrls).toEqual([]);
    expect(e.tls).toEqual({ ca: ['CA PEM'], cert: 'CERT PEM', key: 'KEY PEM', rejectUnauthorized: true });
    const hub = await resolveEndpoint('docker.io', { certsDir });
    expect(hub.baseUrl).toBe('https://registry-1.docker.io');
    expect(hub.tls).toEqual({ rejectUnauthorized: true });
  });

  it('falls back to http for insecure and loopback registries', async () => {
    const listed = await resolveEndpoint('reg.internal:5000', { certsDir, insecureRegistries: ['reg.internal:5000'] });
    expect(listed.fallbackUrls).toEqual(['http://reg.internal:5000']);
    expect(listed.tls?.rejectUnauthorized).toBe(false);
    const local = await resolveEndpoint('127.0.0.1:5000', { certsDir });
    expect(local.fallbackUrls).toEqual(['http://127.0.0.1:5000']);
    const strict = await resolveEndpoint('127.0.0.1:5000', { certsDir, loopbackInsecure: false });
    expect(strict.fallbackUrls).toEqual([]);
    expect(strict.tls?.rejectUnauthorized).toBe(true);
  });

  it('verifies TLS for a loopback registry that has a CA in certs.d', async () => {
    const e = await resolveEndpoint('127.0.0.1:9999', { certsDir });
    expect(e.fallbackUrls).toEqual([]);
    expect(e.tls).toEqual({ ca: ['LOCAL CA'], rejectUnauthorized: true });
  });
});
