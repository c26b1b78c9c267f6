import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseSize, rotateLog } from './log-rotation.js';

let dir: string | undefined;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('log rotation', () => {
  it('parses Docker sizes', () => {
    expect(parseSize('10m')).toBe(10 * 1024 * 1024);
    expect(parseSize('512k')).toBe(512 * 1024);
    expect(parseSize('100')).toBe(100);
    expect(() => parseSize('ten')).toThrow(/invalid max-size/);
  });

  it('moves an oversized live log to history and caps history at (max-file - 1) * max-size at a line', async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-rot-'));
    const live = join(dir, 'ctr.log');
    const history = join(dir, 'history.log');
    const line = (i: number): string => `2026-01-01T00:00:00.000000000Z stdout F line-${String(i).padStart(4, '0')}\n`;
    await writeFile(live, Array.from({ length: 10 }, (_, i) => line(i)).join(''));
    expect(await rotateLog(live, history, 10_000, 3)).toBe(false);
    expect(await rotateLog(live, history, 100, 3)).toBe(true);
    expect(await readFile(live, 'utf8')).toBe('');
    const h = await readFile(history, 'utf8');
    expect(h.length).toBeLessThanOrEqual(200);
    expect(h.endsWith(line(9))).toBe(true);
    expect(h.split('\n').filter(Boolean).every((l) => /stdout F line-\d{4}$/.test(l))).toBe(true);
  });
});
