import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
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

let reg: RunningRegistry;
let tmp: TempDir;
let bb: BusyboxLayout;
let proxy: Server;
let proxyUrl: string;
const tunnels: string[] = [];
const sockets = new Set<Socket>();

beforeAll(async () => {
  tmp = await makeTempDir('rc-proxy-');
  [reg, bb] = await Promise.all([startRegistry(), buildBusyboxLayout()]);
  await pushLayoutWithSkopeo(bb.layoutDir, 'latest', `${reg.host}/library/busybox:latest`);
  // an HTTP CONNECT proxy that only tunnels to 127.0.0.1
  proxy = createServer((_req, res) => res.writeHead(405).end());
  proxy.on('connect', (req, client: Socket, head: Buffer) => {
    const [host, port] = (req.url ?? '').split(':');
    tunnels.push(req.url ?? '');
    if (host !== '127.0.0.1') return void client.end('HTTP/1.1 403 Forbidden\r\n\r\n');
    const up = connect(Number(port), host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length) up.write(head);
      up.pipe(client);
      client.pipe(up);
    });
    for (const s of [up, client]) {
      sockets.add(s);
      s.on('error', () => {
        up.destroy();
        client.destroy();
      });
      s.on('close', () => sockets.delete(s));
    }
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise<void>((r) => (proxy ? proxy.close(() => r()) : r()));
  await reg?.stop();
  await tmp?.cleanup();
});

describe('proxies', () => {
  it('pulls through an explicit HTTP proxy (CONNECT tunnel)', async () => {
    const client = new RegistryClient({ certsDir: join(tmp.path, 'no-certs'), proxy: { httpProxy: proxyUrl, httpsProxy: proxyUrl } });
    try {
      const r = await client.pull(`${reg.host}/library/busybox:latest`, new FileBlobStore(join(tmp.path, 'a'), { fsync: false }));
      expect(r.manifestDigest).toBe(bb.manifestDigest);
      expect(tunnels).toContain(reg.host);
    } finally {
      await client.close();
    }
  });

  it('honours noProxy, and reaches loopback registries directly by default', async () => {
    tunnels.length = 0;
    const bypass = new RegistryClient({
      certsDir: join(tmp.path, 'no-certs'),
      proxy: { httpProxy: proxyUrl, httpsProxy: proxyUrl, noProxy: '127.0.0.1' },
    });
    const byDefault = new RegistryClient({ certsDir: join(tmp.path, 'no-certs') });
    try {
      expect((await bypass.resolve(`${reg.host}/library/busybox:latest`)).manifestDescriptor.digest).toBe(bb.manifestDigest);
      expect((await byDefault.resolve(`${reg.host}/library/busybox:latest`)).manifestDescriptor.digest).toBe(bb.manifestDigest);
      expect(tunnels).toEqual([]);
    } finally {
      await bypass.close();
      await byDefault.close();
    }
  });
});
