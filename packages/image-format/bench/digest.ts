// Digest throughput: a 1 GiB file streamed through Digester vs `sha256sum` of the same
// file in the same run. Prints MB/s for each and the ratio (target >= 0.9).
// Run: pnpm exec tsx bench/digest.ts [sizeMiB]
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { Digester } from '../src/index.js';

const run = promisify(execFile);
const sizeMiB = Number(process.argv[2] ?? 1024);
const ROUNDS = 3;

async function writeFileOfSize(path: string, bytes: number): Promise<void> {
  const block = randomBytes(16 * 1024 * 1024);
  const out = createWriteStream(path);
  for (let left = bytes; left > 0; left -= block.length) {
    const chunk = left >= block.length ? block : block.subarray(0, left);
    if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
}

async function berth(path: string): Promise<{ seconds: number; digest: string }> {
  const start = process.hrtime.bigint();
  const digester = new Digester();
  await pipeline(
    createReadStream(path, { highWaterMark: 1024 * 1024 }),
    digester,
    new Writable({ write: (_c, _e, cb) => cb() }),
  );
  return { seconds: Number(process.hrtime.bigint() - start) / 1e9, digest: digester.digest() };
}

async function sha256sum(path: string): Promise<{ seconds: number; digest: string }> {
  const start = process.hrtime.bigint();
  const { stdout } = await run('sha256sum', [path]);
  return { seconds: Number(process.hrtime.bigint() - start) / 1e9, digest: `sha256:${stdout.split(' ')[0]}` };
}

const dir = await mkdtemp(join(tmpdir(), 'berth-bench-digest-'));
try {
  const file = join(dir, 'blob');
  const bytes = sizeMiB * 1024 * 1024;
  await writeFileOfSize(file, bytes);
  await sha256sum(file); // warm the page cache so both read from memory
  let best = { berth: Infinity, floor: Infinity };
  for (let i = 0; i < ROUNDS; i++) {
    const f = await sha256sum(file);
    const b = await berth(file);
    if (b.digest !== f.digest) throw new Error(`digests differ: ${b.digest} vs ${f.digest}`);
    best = { berth: Math.min(best.berth, b.seconds), floor: Math.min(best.floor, f.seconds) };
  }
  const mbps = (s: number) => bytes / 1e6 / s;
  console.log(`digest of ${sizeMiB} MiB, best of ${ROUNDS}:`);
  console.log(`  berth Digester  ${mbps(best.berth).toFixed(0)} MB/s (${best.berth.toFixed(2)} s)`);
  console.log(`  sha256sum       ${mbps(best.floor).toFixed(0)} MB/s (${best.floor.toFixed(2)} s)`);
  console.log(`digest throughput ratio vs sha256sum: ${(best.floor / best.berth).toFixed(2)} (target >= 0.9)`);
} finally {
  await rm(dir, { recursive: true, force: true });
}
