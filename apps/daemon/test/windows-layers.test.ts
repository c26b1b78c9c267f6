import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import tar from 'tar-stream';
import { buildWindowsImage, pushWindowsImage, readWindowsTar, startRegistry, type RunningRegistry, type WindowsImage } from '@berth/fixtures';
import { HcsSimulator } from '@berth/hcs/simulator';
import { startTestDaemon, type TestDaemon } from './support/daemon.js';
import { dockerOk } from './support/docker-cli.js';

// A Windows image (layer tars with Files/, Hives/, UtilityVM/Files/, PAX MSWINDOWS.* and
// LIBARCHIVE.creationtime records, a foreign base layer with urls) goes through berthd with
// the real docker CLI: pull from a registry on 127.0.0.1 (the base layer from its url) →
// save → rmi → load → push to another repository. Every layer tar stays byte-identical,
// and the foreign layer keeps its descriptor (urls) and is not pushed, as Docker does.
//
// The berthd is composed as on a Windows Server 2022 host (DaemonOptions.platform: the
// Windows drivers over the HCS simulator), because only a Windows host takes Windows
// images: a Linux berthd refuses them as dockerd does (windows-images-linux-host.test.ts).

const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function untar(archive: Buffer): Promise<Map<string, Buffer>> {
  const x = tar.extract();
  const files = new Map<string, Buffer>();
  const done = (async () => {
    for await (const entry of x) {
      const chunks: Buffer[] = [];
      for await (const c of entry) chunks.push(c as Buffer);
      files.set(entry.header.name, Buffer.concat(chunks));
    }
  })();
  x.end(archive);
  await done;
  return files;
}

type Layer = { mediaType: string; digest: string; size: number; urls?: string[] };

describe('Windows layers through berthd', () => {
  let t: TestDaemon;
  let reg: RunningRegistry;
  let server: Server;
  let img: WindowsImage;
  let sim: HcsSimulator;
  const hits: string[] = [];
  const suffix = Math.random().toString(16).slice(2, 8);

  beforeAll(async () => {
    server = createServer((req, res) => {
      hits.push(req.url ?? '');
      const base = img.layers[0]!;
      if (req.url !== `/layers/${base.digest}`) res.writeHead(404).end();
      else res.writeHead(200, { 'content-length': base.size }).end(base.bytes);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    img = await buildWindowsImage({ foreignUrl: (d) => `http://127.0.0.1:${port}/layers/${d}` });
    reg = await startRegistry({ allowLayerUrls: ['^http://127\\.0\\.0\\.1:[0-9]+/'] });
    sim = new HcsSimulator({ onDisk: true });
    t = await startTestDaemon({ platform: { os: 'win32', productName: 'Windows Server 2022 Datacenter', hcs: sim } });
  }, 60_000);
  afterAll(async () => {
    await t?.stop();
    sim?.storage.removeHostDirs();
    await reg?.stop();
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  });

  it('pull → save → load → push keeps every layer tar byte-identical', async () => {
    const src = `${reg.host}/berth/win-${suffix}:ltsc2022`;
    const dst = `${reg.host}/berth/win-copy-${suffix}:ltsc2022`;
    await pushWindowsImage(reg.url, `berth/win-${suffix}`, 'ltsc2022', img);

    // pull: the registry lacks the foreign base, its url serves it
    await dockerOk(t.dockerEnv, ['pull', src], { timeoutMs: 120_000 });
    expect(hits).toEqual([`/layers/${img.layers[0]!.digest}`]);
    const imageId = (await dockerOk(t.dockerEnv, ['image', 'inspect', '-f', '{{.Id}} {{.Os}} {{.OsVersion}}', src])).trim();
    expect(imageId).toBe(`${img.config.digest} windows ${img.osVersion}`);

    // save: the archive's layer tars are the image's tars, the foreign one with its descriptor
    const archivePath = join(t.dir, 'win.tar');
    await dockerOk(t.dockerEnv, ['save', '-o', archivePath, src], { timeoutMs: 120_000 });
    const files = await untar(await readFile(archivePath));
    const manifest = JSON.parse(files.get('manifest.json')!.toString()) as Array<{ Config: string; Layers: string[]; LayerSources?: Record<string, Layer> }>;
    expect(manifest).toHaveLength(1);
    const saved = manifest[0]!.Layers.map((p) => files.get(p)!);
    expect(saved).toHaveLength(2);
    saved.forEach((b, i) => expect(b.equals(img.tars[i]!), `layer ${i} of the archive`).toBe(true));
    expect(manifest[0]!.LayerSources).toEqual({
      [sha256(img.tars[0]!)]: { mediaType: img.layers[0]!.mediaType, size: img.layers[0]!.size, digest: img.layers[0]!.digest, urls: img.layers[0]!.urls },
    });
    const entries = await readWindowsTar(saved[0]!);
    expect(entries.find((e) => e.name === 'UtilityVM/Files/EFI/Microsoft/Boot/bootmgfw.efi')?.pax['MSWINDOWS.rawsd']).toBeDefined();

    // load, after removing the image: the same image comes back
    await dockerOk(t.dockerEnv, ['rmi', src]);
    const loaded = await dockerOk(t.dockerEnv, ['load', '-i', archivePath], { timeoutMs: 120_000 });
    expect(loaded).toContain(`Loaded image: ${src}`);
    expect((await dockerOk(t.dockerEnv, ['image', 'inspect', '-f', '{{.Id}}', src])).trim()).toBe(img.config.digest);

    // push: the foreign layer stays out of the registry and keeps its urls in the manifest
    await dockerOk(t.dockerEnv, ['tag', src, dst]);
    hits.length = 0;
    await dockerOk(t.dockerEnv, ['push', dst], { timeoutMs: 120_000 });
    expect(hits).toEqual([]);
    const res = await fetch(`${reg.url}/v2/berth/win-copy-${suffix}/manifests/ltsc2022`, {
      headers: { accept: 'application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json' },
    });
    expect(res.status).toBe(200);
    const pushed = (await res.json()) as { config: Layer; layers: Layer[] };
    expect(pushed.config.digest).toBe(img.config.digest);
    expect(pushed.layers[0]).toEqual({ mediaType: img.layers[0]!.mediaType, size: img.layers[0]!.size, digest: img.layers[0]!.digest, urls: img.layers[0]!.urls });
    const foreignHead = await fetch(`${reg.url}/v2/berth/win-copy-${suffix}/blobs/${img.layers[0]!.digest}`, { method: 'HEAD' });
    expect(foreignHead.status).toBe(404);
    const top = Buffer.from(await (await fetch(`${reg.url}/v2/berth/win-copy-${suffix}/blobs/${pushed.layers[1]!.digest}`)).arrayBuffer());
    const topTar = /gzip/.test(pushed.layers[1]!.mediaType) ? gunzipSync(top) : top;
    expect(topTar.equals(img.tars[1]!)).toBe(true);

    await dockerOk(t.dockerEnv, ['rmi', src, dst]);
  }, 300_000);
});
