import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchRemote, remoteFileName } from './remote-source.js';

describe('fetchRemote (ADD <url>) against a loopback server', () => {
  let server: Server;
  let base: string;
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-fetch-'));
    server = createServer((req, res) => {
      if (req.url === '/cut') {
        // promises more than it sends, then hangs up
        res.setHeader('Content-Length', '1000');
        res.write('short', () => res.destroy());
      } else res.end('payload\n');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });

  it('verifies sha256, sha384 and sha512 pins; refuses a malformed one before fetching', async () => {
    for (const algo of ['sha256', 'sha384', 'sha512']) {
      const f = await fetchRemote(`${base}/a%20b.txt`, dir, { timeoutMs: 5000, checksum: `${algo}:${createHash(algo).update('payload\n').digest('hex')}` });
      expect(f.name).toBe('a b.txt');
      expect(await readFile(f.hostPath, 'utf8')).toBe('payload\n');
      expect((await stat(f.hostPath)).mode & 0o777).toBe(0o600);
      expect(f.mtime.getTime()).toBe(0);
    }
    await expect(fetchRemote(`${base}/x`, dir, { timeoutMs: 5000, checksum: 'sha256:abc' })).rejects.toThrow('invalid checksum digest format: sha256:abc');
  });

  it('a body cut short is an error naming the URL, not a short file', async () => {
    await expect(fetchRemote(`${base}/cut`, dir, { timeoutMs: 5000 })).rejects.toThrow(`Get "${base}/cut": aborted`);
  });

  it('names files from the URL path', () => {
    expect(remoteFileName(new URL('http://h/dir/file.tar.gz?x=1#y'))).toBe('file.tar.gz');
    expect(remoteFileName(new URL('http://h/dir/'))).toBe('');
    expect(remoteFileName(new URL('http://h'))).toBe('');
    expect(remoteFileName(new URL('http://h/%E2%9C%93'))).toBe('✓');
    // never a path: decoded slashes and dot segments give a plain name or none
    expect(remoteFileName(new URL('http://h/x/..%2F..%2Fetc%2Fpasswd'))).toBe('passwd');
    expect(remoteFileName(new URL('http://h/a/%2E%2E'))).toBe('');
    expect(remoteFileName(new URL('http://h/a%2F..'))).toBe('');
    expect(remoteFileName(new URL('http://h/a%00b'))).toBe('');
  });
});
