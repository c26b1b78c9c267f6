import { describe, expect, it } from 'vitest';
import { parseK8sLogLine } from './k8s-log.js';

describe('parseK8sLogLine', () => {
  it('parses full and partial lines', () => {
    expect(parseK8sLogLine('2026-11-27T04:04:42.894804476+00:00 stdout F hello world')).toEqual({
      time: '2026-11-27T04:04:42.894804476+00:00',
      stream: 'stdout',
      partial: false,
      line: 'hello world',
    });
    expect(parseK8sLogLine('2026-11-27T04:04:42.9+00:00 stderr P part')).toMatchObject({ stream: 'stderr', partial: true, line: 'part' });
    expect(parseK8sLogLine('2026-11-27T04:04:42.9+00:00 stdout F ')).toMatchObject({ line: '' });
    expect(parseK8sLogLine('garbage')).toBeUndefined();
  });
});

describe('readK8sLog following', () => {
  it('ends as soon as `wake` settles, not a poll interval later', async () => {
    const { mkdtemp, writeFile, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { readK8sLog } = await import('./k8s-log.js');
    const dir = await mkdtemp(join(tmpdir(), 'berth-k8slog-'));
    try {
      const path = join(dir, 'ctr.log');
      await writeFile(path, '2026-11-27T04:04:42.894804476+00:00 stdout F hello\n');
      let running = true;
      let exit!: () => void;
      const wake = new Promise<void>((r) => (exit = r));
      const lines: string[] = [];
      const started = Date.now();
      setTimeout(() => {
        running = false;
        exit();
      }, 30);
      // a 10 s poll interval: only the wake-up can end this promptly
      for await (const e of readK8sLog(path, { keepGoing: async () => running, pollMs: 10_000, wake })) lines.push(e.line);
      expect(lines).toEqual(['hello']);
      expect(Date.now() - started).toBeLessThan(2_000);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
