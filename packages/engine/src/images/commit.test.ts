import { describe, expect, it } from 'vitest';
import type { ImageConfig } from '@berth/image-format';
import { EMPTY_LAYER_DIFF_ID, commitImageConfig } from './commit.js';

const base: ImageConfig = {
  architecture: 'amd64',
  os: 'linux',
  config: { Env: ['PATH=/bin'], Cmd: ['/bin/sh'] },
  rootfs: { type: 'layers', diff_ids: ['sha256:' + 'a'.repeat(64)] },
  history: [{ created: '2023-11-14T22:13:20Z', created_by: 'layer 0' }],
} as ImageConfig;
const container = { id: 'c'.repeat(64), config: { Hostname: 'cccccccccccc', Env: ['PATH=/bin', 'A=1'], Cmd: ['touch', '/test'], Image: 'busybox', Labels: {} } };
const created = '2026-01-01T00:00:00.000Z';

describe('commitImageConfig (what dockerd 20.10 writes for a commit)', () => {
  it('without a request config commits the container config whole; history is the Cmd', () => {
    const { config } = commitImageConfig({ base, container, diffId: `sha256:${'b'.repeat(64)}`, created, author: 'Ann', comment: 'msg' });
    const c = config as unknown as Record<string, unknown>;
    expect(c['container']).toBe(container.id);
    expect(c['config']).toMatchObject({ Hostname: 'cccccccccccc', Cmd: ['touch', '/test'], Image: 'busybox', Env: ['PATH=/bin', 'A=1'] });
    expect(c['container_config']).toEqual(c['config']);
    expect(config.history?.at(-1)).toEqual({ created, author: 'Ann', created_by: 'touch /test', comment: 'msg' });
    expect(config.rootfs.diff_ids).toHaveLength(2);
  });

  it('a request config plus changes, filled from the container (Docker merge)', () => {
    const { config } = commitImageConfig({
      base,
      container,
      user: { Env: ['B=2'], Labels: { x: 'y' } },
      changes: ['EXPOSE 8000', 'CMD ["bash"]'],
      diffId: `sha256:${'b'.repeat(64)}`,
      created,
    });
    expect(config.config).toMatchObject({ Hostname: '', Env: ['B=2', 'PATH=/bin', 'A=1'], Cmd: ['bash'], ExposedPorts: { '8000/tcp': {} }, Labels: { x: 'y' } });
  });

  it('an empty diff adds no layer and marks the history entry empty', () => {
    const { config, emptyLayer } = commitImageConfig({ base, container, diffId: EMPTY_LAYER_DIFF_ID, created });
    expect(emptyLayer).toBe(true);
    expect(config.rootfs.diff_ids).toEqual(base.rootfs.diff_ids);
    expect(config.history?.at(-1)).toMatchObject({ empty_layer: true });
  });
});
