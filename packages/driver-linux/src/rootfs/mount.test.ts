import { describe, expect, it } from 'vitest';
import { planOverlay } from './mount.js';

const hex = (i: number) => i.toString(16).padStart(64, '0');

describe('planOverlay', () => {
  it('keeps short option lists as they are', () => {
    const opts = ['lowerdir=/a/1:/a/2', 'upperdir=/a/u', 'workdir=/a/w'];
    expect(planOverlay(opts, '/links')).toEqual({ options: opts });
  });

  it('makes paths relative to their common directory when that fits in a page', () => {
    const lowers = Array.from({ length: 80 }, (_, i) => `/var/lib/berth/with/a/rather/long/prefix/snapshots/${i}/fs`);
    const opts = [`lowerdir=${lowers.join(':')}`, 'upperdir=/var/lib/berth/with/a/rather/long/prefix/snapshots/99/fs', 'workdir=/var/lib/berth/with/a/rather/long/prefix/snapshots/99/work', 'index=off'];
    expect(opts.join(',').length).toBeGreaterThan(4096);
    const plan = planOverlay(opts, '/links');
    expect(plan.cwd).toBe('/var/lib/berth/with/a/rather/long/prefix/snapshots');
    expect(plan.links).toBeUndefined();
    expect(plan.options[0]).toBe(`lowerdir=${lowers.map((_, i) => `${i}/fs`).join(':')}`);
    expect(plan.options.slice(1)).toEqual(['upperdir=99/fs', 'workdir=99/work', 'index=off']);
  });

  it('falls back to short symlinks for 128 long-named lowers', () => {
    const lowers = Array.from({ length: 128 }, (_, i) => `/srv/layers/sha256-${hex(i)}/diff`);
    const opts = [`lowerdir=${lowers.join(':')}`, 'upperdir=/srv/upper/fs', 'workdir=/srv/upper/work'];
    const plan = planOverlay(opts, '/b/lower-links');
    expect(plan.cwd).toBe('/b/lower-links');
    expect(plan.options.join(',').length).toBeLessThan(4000);
    expect(plan.links?.size).toBe(128);
    const names = (plan.options[0] as string).slice('lowerdir='.length).split(':');
    expect(names.map((n) => plan.links?.get(n))).toEqual(lowers);
    expect(plan.options.slice(1)).toEqual(['upperdir=/srv/upper/fs', 'workdir=/srv/upper/work']);
  });
});

describe('isMountPoint', () => {
  it('tells a mounted directory from a plain one (unmountRootfs relies on it)', async () => {
    const { mkdtemp, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { execFileSync } = await import('node:child_process');
    const { isMountPoint, unmountRootfs } = await import('./mount.js');
    const dir = await mkdtemp(join(tmpdir(), 'berth mnt-')); // a space: mountinfo escapes it
    try {
      expect(await isMountPoint(dir)).toBe(false);
      execFileSync('mount', ['-t', 'tmpfs', 'tmpfs', dir]);
      expect(await isMountPoint(dir)).toBe(true);
      await unmountRootfs(dir);
      expect(await isMountPoint(dir)).toBe(false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
