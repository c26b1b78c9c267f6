import { describe, expect, it } from 'vitest';
import { mountOf, parentMountPoint, parseMountInfo, rootfsPropagation } from '../src/rootfs/propagation.js';

// A hybrid-cgroup host's table (as on the CI machines) with a shared bind and an escaped path.
const INFO = [
  '26 1 254:0 / / rw,relatime - ext4 /dev/vda rw',
  '22 26 0:21 / /sys rw,relatime shared:3 - sysfs sysfs rw',
  '30 22 0:27 / /sys/fs/cgroup rw,relatime shared:4 - tmpfs tmpfs rw,mode=755',
  '40 30 0:37 / /sys/fs/cgroup/unified rw,relatime shared:5 - cgroup2 cgroup2 rw',
  '90 26 254:0 /tmp/a /tmp/a rw,relatime shared:7 - ext4 /dev/vda rw',
  '91 90 0:50 / /tmp/a/with\\040space rw,relatime master:7 - tmpfs tmpfs rw',
].join('\n');

describe('mount propagation from mountinfo', () => {
  const entries = parseMountInfo(INFO);

  it('finds the parent of the cgroup2 mount (where its unmount would propagate from)', () => {
    expect(parentMountPoint(entries, '/sys/fs/cgroup/unified')).toBe('/sys/fs/cgroup');
    expect(parentMountPoint(entries, '/nowhere')).toBeUndefined();
  });

  it('finds the mount holding a path, with its propagation tags', () => {
    expect(mountOf(entries, '/tmp/a/x/y')).toMatchObject({ mountPoint: '/tmp/a', tags: ['shared:7'] });
    expect(mountOf(entries, '/tmp/ab')).toMatchObject({ mountPoint: '/', tags: [] });
    expect(mountOf(entries, '/tmp/a/with space/f')).toMatchObject({ mountPoint: '/tmp/a/with space', tags: ['master:7'] });
  });

  it('asks for an rshared root when a bind is rshared, rslave when one is rslave', () => {
    const bind = (o: string) => ({ type: 'bind' as const, source: '/s', destination: '/d', options: ['rbind', o] });
    expect(rootfsPropagation([bind('rprivate'), bind('rslave'), bind('rshared')])).toBe('rshared');
    expect(rootfsPropagation([bind('rslave')])).toBe('rslave');
    expect(rootfsPropagation([bind('rprivate')])).toBeUndefined();
  });
});
