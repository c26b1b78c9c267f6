import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBusyboxLayout, pushLayoutWithSkopeo, startRegistry, writeImageLayout, type RunningRegistry } from '@berth/fixtures';
import { startTestDaemon, type TestDaemon } from './support/daemon.js';
import { docker as cli, dockerOk } from './support/docker-cli.js';

// Images made from a debootstrap root carry dev/console, dev/null... in a layer (issue 11):
// dockerd running as root pulls, loads and runs them, making the nodes with their numbers.
describe('image layers holding device nodes, through berthd', () => {
  let t: TestDaemon;
  let reg: RunningRegistry;
  let ref: string;
  const suffix = Math.random().toString(16).slice(2, 8);
  const ok = (args: string[]): Promise<string> => dockerOk(t.dockerEnv, args);

  beforeAll(async () => {
    t = await startTestDaemon({ logLevel: 'fatal' });
    reg = await startRegistry();
    // busybox below, a layer with the nodes on top: as debootstrap leaves them
    const busybox = await buildBusyboxLayout();
    const layoutDir = join(t.dir, 'layout');
    await mkdir(join(layoutDir, 'blobs', 'sha256'), { recursive: true });
    await copyFile(busybox.layerPath, join(layoutDir, 'blobs', 'sha256', busybox.layerDigest.slice('sha256:'.length)));
    const devTar = await tarOf([
      { name: 'dev/', type: 'directory', mode: 0o755 },
      { name: 'dev/console', type: 'character-device', devmajor: 5, devminor: 1, mode: 0o600, gid: 5 },
      { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 },
      { name: 'dev/loop0', type: 'block-device', devmajor: 7, devminor: 0, mode: 0o660, gid: 6 },
      { name: 'etc/debootstrapped', type: 'file', mode: 0o644 },
    ]);
    const devGz = gzipSync(devTar);
    const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
    const devPath = join(layoutDir, 'blobs', 'sha256', sha(devGz).slice('sha256:'.length));
    await writeFile(devPath, devGz);
    const layout = await writeImageLayout(
      layoutDir,
      [
        { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: busybox.layerDigest, size: busybox.layerSize, diffId: busybox.diffId, uncompressedSize: 0, path: busybox.layerPath },
        { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha(devGz), size: devGz.length, diffId: sha(devTar), uncompressedSize: devTar.length, path: devPath },
      ],
      { tag: 'v1', reference: `devnodes-${suffix}:v1`, cmd: ['sh'], historyComment: 'device nodes' },
    );
    ref = `${reg.host}/devnodes-${suffix}:v1`;
    await pushLayoutWithSkopeo(layout.layoutDir, layout.tag, ref);
  });
  afterAll(async () => {
    await t?.stop();
    await reg?.stop();
  });

  /** `docker export` of a new container of `image`: the nodes as tar lists them. */
  const exportedNodes = async (image: string): Promise<string[]> => {
    const c = `devnodes-${suffix}-${Math.random().toString(16).slice(2, 6)}`;
    await ok(['create', '--name', c, '--network', 'none', image, 'true']);
    const file = join(t.dir, `${c}.tar`);
    await ok(['export', '-o', file, c]);
    await ok(['rm', c]);
    const listing = await new Promise<string>((resolve, reject) =>
      execFile('tar', ['-tvf', file, '--numeric-owner'], { maxBuffer: 16 << 20 }, (err, out) => (err ? reject(err) : resolve(out))),
    );
    // "crw------- 0/5 5,1 2020-01-01 00:00 ./dev/console" -> "crw------- 0/5 5,1 dev/console"
    return listing
      .split('\n')
      .filter((l) => /^[cb]/.test(l) && / (\.\/)?dev\//.test(l))
      .map((l) => l.split(/\s+/))
      .map((f) => `${f[0]} ${f[1]} ${f[2]} ${f[f.length - 1]?.replace(/^\.\//, '')}`)
      .sort();
  };
  const NODES = ['brw-rw---- 0/6 7,0 dev/loop0', 'crw------- 0/5 5,1 dev/console', 'crw-rw-rw- 0/0 1,3 dev/null'];

  it('docker pull applies the layer and keeps each node (kind, numbers, mode, owner)', async () => {
    const pulled = await cli(t.dockerEnv, ['pull', ref], { timeoutMs: 120_000 });
    expect(pulled.stderr).toBe('');
    expect(pulled.code).toBe(0);
    expect(await exportedNodes(ref)).toEqual(NODES);
  });

  it('docker run works (the runtime mounts its own /dev over the image one)', async () => {
    const out = await ok(['run', '--rm', '--network', 'none', ref, 'sh', '-c', 'cat /etc/debootstrapped; ls -ln /dev/null | cut -c1; echo x > /dev/null && echo null-ok']);
    expect(out).toBe('c\nnull-ok\n');
  });

  it('docker save | docker load brings the image back with its nodes', async () => {
    const saved = join(t.dir, 'saved.tar');
    await ok(['save', '-o', saved, ref]);
    await ok(['rmi', ref]);
    const loaded = await ok(['load', '-i', saved]);
    expect(loaded).toContain(`Loaded image: ${ref}`);
    expect(await exportedNodes(ref)).toEqual(NODES);
  });
});

interface Entry {
  name: string;
  type: 'directory' | 'file' | 'character-device' | 'block-device';
  mode: number;
  devmajor?: number;
  devminor?: number;
  gid?: number;
}

/** An uncompressed layer tar written with tar-stream. */
async function tarOf(entries: Entry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of pack) chunks.push(c as Buffer);
  })();
  for (const e of entries) {
    const header = { uid: 0, gid: 0, mtime: new Date('2020-01-01T00:00:00Z'), ...e };
    if (e.type === 'file') pack.entry(header, '');
    else pack.entry(header);
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}
