import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { detectCgroups } from './layout.js';

const V1 = [
  '30 25 0:26 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
  '31 30 0:27 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory',
  '32 30 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct',
  '33 30 0:29 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids',
  '34 30 0:30 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd',
];

async function detect(lines: string[]) {
  const dir = await mkdtemp(join(tmpdir(), 'berth-cg-'));
  try {
    await writeFile(join(dir, 'mountinfo'), lines.join('\n') + '\n');
    return await detectCgroups(join(dir, 'mountinfo'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('detectCgroups', () => {
  it('v1', async () => {
    const c = await detect(V1);
    expect(c.layout).toBe('v1');
    expect(c.v1.get('cpuacct')).toBe('/sys/fs/cgroup/cpu,cpuacct');
    expect(c.v1.get('memory')).toBe('/sys/fs/cgroup/memory');
    expect(c.v1.get('name=systemd')).toBe('/sys/fs/cgroup/systemd');
    expect(c.v1.has('xattr')).toBe(false);
  });
  it('hybrid', async () => {
    const c = await detect([...V1, '35 30 0:31 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw']);
    expect(c.layout).toBe('hybrid');
    expect(c.unified).toBe('/sys/fs/cgroup/unified');
  });
  it('v2', async () => {
    const c = await detect(['30 25 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate']);
    expect(c.layout).toBe('v2');
    expect(c.unified).toBe('/sys/fs/cgroup');
  });
});
