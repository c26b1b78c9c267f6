import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { releaseHostLocalLeases } from './ipam-lease.js';

describe('releaseHostLocalLeases', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-lease-'));
    await mkdir(join(dir, 'net'));
    await writeFile(join(dir, 'net', '10.9.0.2'), 'ctr1\r\neth0');
    await writeFile(join(dir, 'net', '10.9.0.3'), 'ctr2\r\neth0');
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('deletes the leases the container holds on that interface', async () => {
    expect(await releaseHostLocalLeases(dir, 'net', ['10.9.0.2/24'], 'ctr1', 'eth0')).toBe(true);
    expect((await readdir(join(dir, 'net'))).sort()).toEqual(['10.9.0.3']);
  });

  it('touches nothing when a lease is missing or held by another container or interface', async () => {
    expect(await releaseHostLocalLeases(dir, 'net', ['10.9.0.2/24', '10.9.0.3/24'], 'ctr1', 'eth0')).toBe(false);
    expect(await releaseHostLocalLeases(dir, 'net', ['10.9.0.2/24'], 'ctr1', 'eth1')).toBe(false);
    expect(await releaseHostLocalLeases(dir, 'net', ['10.9.0.9/24'], 'ctr1', 'eth0')).toBe(false);
    expect(await releaseHostLocalLeases(dir, 'net', [], 'ctr1', 'eth0')).toBe(false);
    expect(await releaseHostLocalLeases(dir, '../net', ['10.9.0.2/24'], 'ctr1', 'eth0')).toBe(false);
    expect((await readdir(join(dir, 'net'))).sort()).toEqual(['10.9.0.2', '10.9.0.3']);
  });
});
