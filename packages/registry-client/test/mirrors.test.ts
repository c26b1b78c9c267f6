import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildBusyboxLayout,
  makeTempDir,
  pushLayoutWithSkopeo,
  startRegistry,
  type BusyboxLayout,
  type RunningRegistry,
  type TempDir,
} from '@berth/fixtures';
import { FileBlobStore, RegistryClient } from '../src/index.js';

let upstream: RunningRegistry;
let mirror: RunningRegistry;
let tmp: TempDir;
let bb: BusyboxLayout;

beforeAll(async () => {
  tmp = await makeTempDir('rc-mirrors-');
  [upstream, mirror, bb] = await Promise.all([startRegistry(), startRegistry(), buildBusyboxLayout()]);
  await pushLayoutWithSkopeo(bb.layoutDir, 'latest', `${mirror.host}/library/busybox:latest`);
  await pushLayoutWithSkopeo(bb.layoutDir, 'latest', `${upstream.host}/berth/upstream-only:1`);
});

afterAll(async () => {
  await upstream?.stop();
  await mirror?.stop();
  await tmp?.cleanup();
});

describe('registry mirrors', () => {
  it('pulls from a mirror first and falls back to the registry when the mirror lacks the image', async () => {
    const client = new RegistryClient({ certsDir: join(tmp.path, 'no-certs'), mirrors: { [upstream.host]: [`http://${mirror.host}`] } });
    try {
      // only the mirror has library/busybox: the upstream would answer "manifest unknown"
      const a = await client.pull(`${upstream.host}/library/busybox:latest`, new FileBlobStore(join(tmp.path, 'a'), { fsync: false }));
      expect(a.manifestDigest).toBe(bb.manifestDigest);
      const b = await client.resolve(`${upstream.host}/berth/upstream-only:1`);
      expect(b.manifestDescriptor.digest).toBe(bb.manifestDigest);
      // an image in neither: the error names the reference asked for
      await expect(client.resolve(`${upstream.host}/library/nothing:here`)).rejects.toThrow(
        `manifest unknown: ${upstream.host}/library/nothing:here`,
      );
    } finally {
      await client.close();
    }
  });

  it('falls back when the mirror is down', async () => {
    const down = `127.0.0.1:1`; // nothing listens on port 1
    const client = new RegistryClient({
      certsDir: join(tmp.path, 'no-certs'),
      mirrors: { [upstream.host]: [down] },
      retry: { attempts: 2, baseDelayMs: 20, maxDelayMs: 50 },
    });
    try {
      const r = await client.pull(`${upstream.host}/berth/upstream-only:1`, new FileBlobStore(join(tmp.path, 'c'), { fsync: false }));
      expect(r.manifestDigest).toBe(bb.manifestDigest);
    } finally {
      await client.close();
    }
  });
});
