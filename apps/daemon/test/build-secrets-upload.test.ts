import tar from 'tar-stream';
import { describe, expect, it } from 'vitest';
import { BuildSecretUploads } from '../src/routes/build-secrets.js';
import { useTestDaemon } from './support/fixture.js';
import { request } from './support/http.js';

async function contextTar(dockerfile: string): Promise<Buffer> {
  const pack = tar.pack();
  const parts: Buffer[] = [];
  pack.on('data', (b: unknown) => parts.push(b as Buffer));
  const done = new Promise<void>((resolve) => pack.on('end', () => resolve()));
  pack.entry({ name: 'Dockerfile', mode: 0o644 }, dockerfile);
  pack.finalize();
  await done;
  return Buffer.concat(parts);
}

// Secrets too big for the X-Berth-Build-Secrets header go up first (POST /build/secrets) and
// the build names them (X-Berth-Build-Secrets-Id): taken once, held in memory for a while only.
describe('POST /build/secrets and X-Berth-Build-Secrets-Id', { timeout: 120_000 }, () => {
  const t = useTestDaemon({ busybox: 'builtin' });

  const upload = (body: unknown): ReturnType<typeof request> =>
    request(t.socketPath, 'POST', '/v1.41/build/secrets', { body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } });

  it('an uploaded secret reaches the RUN once; its id is refused the second time; sizes are bounded', async () => {
    const value = Buffer.alloc(300 * 1024, 'k');
    const up = await upload({ s: value.toString('base64') });
    expect(up.status).toBe(201);
    const id = (JSON.parse(up.body) as { Id: string }).Id;
    expect(id).toMatch(/^[0-9a-f]{32}$/);
    const body = await contextTar(`FROM busybox\nRUN --mount=type=secret,id=s,required test "$(wc -c < /run/secrets/s)" -eq ${value.length} && test "$(head -c 3 /run/secrets/s)" = kkk\n`);
    const build = (): ReturnType<typeof request> =>
      request(t.socketPath, 'POST', '/v1.41/build?nocache=1', { body, headers: { 'Content-Type': 'application/x-tar', 'X-Berth-Build-Secrets-Id': id } });
    const first = await build();
    expect(first.status).toBe(200);
    expect(first.body).not.toContain('error');
    expect(first.body).toContain('Successfully built');
    const again = await build();
    expect(again.status).toBe(400);
    expect(JSON.parse(again.body)).toEqual({ message: `build secrets ${id} are unknown or expired (an upload is kept for a minute and used once): upload them again` });

    const tooBig = await upload({ s: Buffer.alloc(500 * 1024 + 1).toString('base64') });
    expect(tooBig.status).toBe(400);
    expect(JSON.parse(tooBig.body)).toEqual({ message: 'secret s too big: 512001 bytes (at most 500 KiB, as BuildKit)' });
    const all = Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`s${i}`, Buffer.alloc(460 * 1024).toString('base64')]));
    const overall = await upload(all);
    expect(overall.status).toBe(400);
    expect(JSON.parse(overall.body)).toEqual({ message: `build secrets too big: ${9 * 460 * 1024} bytes in all (at most 4 MiB)` });
    // a body far over any upload is cut off unread
    const huge = await upload({ s: 'A'.repeat(8 * 1024 * 1024) });
    expect(huge.status).toBe(413);
    const bad = await upload(['not', 'a', 'map']);
    expect(bad.status).toBe(400);
  });

  it('an upload no build takes is forgotten after its time; all waiting uploads are bounded', async () => {
    const uploads = new BuildSecretUploads(50, 1000);
    const id = uploads.put({ a: Buffer.alloc(600) });
    expect(() => uploads.put({ b: Buffer.alloc(600) })).toThrow('too many build secrets waiting for their builds');
    await new Promise((r) => setTimeout(r, 120));
    expect(uploads.take(id)).toBeUndefined();
    // the expired one no longer counts
    const next = uploads.put({ b: Buffer.alloc(600) });
    expect(uploads.take(next)?.['b']?.length).toBe(600);
    expect(uploads.take(next)).toBeUndefined();
  });
});
