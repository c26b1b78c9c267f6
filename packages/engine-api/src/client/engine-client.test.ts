import http from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EngineClient } from './engine-client.js';
import { SystemCalls } from './system.js';
import { ContainerCalls } from './containers.js';
import { ExecCalls } from './exec.js';
import { ImageCalls } from './images.js';
import { BuildCalls } from './build.js';
import { VolumeCalls } from './volumes.js';
import { NetworkCalls } from './networks.js';

// The client is assembled from one file per resource: every call must reach the client and
// go out through the one connection (version prefix, query encoding, body).
describe('EngineClient', () => {
  let dir: string;
  let server: http.Server;
  const seen: { method: string; url: string; body: string }[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'berth-engine-client-'));
    server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen.push({ method: req.method ?? '', url: req.url ?? '', body: Buffer.concat(chunks).toString() });
        if (req.url === '/_ping') {
          res.writeHead(200, { 'Api-Version': '1.45', OSType: 'linux' }).end('OK');
        } else if (req.url?.startsWith('/v1.45/build')) {
          res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"stream":"Step 1/1\\n"}\n{"aux":{"ID":"sha256:ab"}}\n');
        } else if (req.method === 'DELETE') {
          res.writeHead(204).end();
        } else {
          res.writeHead(200, { 'Content-Type': 'application/json' }).end('[]');
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(path.join(dir, 'd.sock'), resolve));
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });

  it('has every call of every resource', () => {
    for (const calls of [SystemCalls, ContainerCalls, ExecCalls, ImageCalls, BuildCalls, VolumeCalls, NetworkCalls]) {
      for (const name of Object.getOwnPropertyNames(calls.prototype)) {
        if (name !== 'constructor') expect(typeof (EngineClient.prototype as unknown as Record<string, unknown>)[name], name).toBe('function');
      }
    }
  });

  it('negotiates once and sends calls of each resource through the connection', async () => {
    const client = new EngineClient({ socketPath: path.join(dir, 'd.sock') });
    try {
      expect(await client.containerList({ all: true, filters: { label: ['a=b'] } })).toEqual([]);
      expect(await client.networkList()).toEqual([]);
      await client.volumeRemove('v1', { force: true });
      const messages = [];
      for await (const m of client.imageBuild(Readable.from([Buffer.from('tar')]), { tags: ['x:1'] })) messages.push(m);
      expect(messages).toEqual([{ stream: 'Step 1/1\n' }, { aux: { ID: 'sha256:ab' } }]);
      expect(seen.map((r) => `${r.method} ${r.url}`)).toEqual([
        'GET /_ping',
        `GET /v1.45/containers/json?all=1&filters=${encodeURIComponent('{"label":["a=b"]}')}`,
        'GET /v1.45/networks',
        'DELETE /v1.45/volumes/v1?force=1',
        'POST /v1.45/build?t=x%3A1',
      ]);
      expect(seen.at(-1)?.body).toBe('tar');
    } finally {
      client.close();
    }
  });
});
