import { describe, expect, it } from 'vitest';
import type { ProgressMessage } from '../docker-types.js';
import { OrderedOutput, StageStopped, runStages } from './stage-runner.js';

const tick = (ms = 5): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('runStages and OrderedOutput', () => {
  it('runs independent stages at once, a dependent one after its inputs; output in stage order', async () => {
    const seen: string[] = [];
    const out = new OrderedOutput(3, (m) => seen.push(m.stream!));
    const log: string[] = [];
    let running = 0;
    let most = 0;
    await runStages([[], [], [0, 1]], out, async (pos) => {
      running++;
      most = Math.max(most, running);
      log.push(`start ${pos}`);
      out.write(pos, { stream: `${pos}a` });
      await tick(pos === 0 ? 30 : 5);
      out.write(pos, { stream: `${pos}b` });
      running--;
      log.push(`end ${pos}`);
    });
    expect(most).toBe(2);
    expect(log.indexOf('start 2')).toBeGreaterThan(log.indexOf('end 0'));
    expect(log.indexOf('start 2')).toBeGreaterThan(log.indexOf('end 1'));
    // stage 1 finished first, but its lines wait for stage 0's
    expect(seen).toEqual(['0a', '0b', '1a', '1b', '2a', '2b']);
  });

  it("throws the earliest stage's failure, starts nothing after it, drops later stages' output", async () => {
    const seen: ProgressMessage[] = [];
    const out = new OrderedOutput(3, (m) => seen.push(m));
    const started: number[] = [];
    let sawStop = false;
    const run = runStages([[], [], [1]], out, async (pos, stopped) => {
      started.push(pos);
      out.write(pos, { stream: `${pos}` });
      if (pos === 0) {
        await tick(5);
        throw new Error('stage 0 broke');
      }
      await tick(30);
      sawStop = stopped();
    });
    await expect(run).rejects.toThrow('stage 0 broke');
    expect(started).toEqual([0, 1]);
    expect(sawStop).toBe(true);
    expect(seen.map((m) => m.stream)).toEqual(['0']);
  });

  it('a stage stopped by a later one\'s failure does not hide it: that failure is thrown, its output kept', async () => {
    const seen: string[] = [];
    const out = new OrderedOutput(2, (m) => seen.push(m.stream!));
    const run = runStages([[], []], out, async (pos, stopped) => {
      out.write(pos, { stream: `${pos} started` });
      if (pos === 1) {
        await tick(5);
        out.write(pos, { stream: '1 broke' });
        throw new Error('stage 1 broke');
      }
      while (!stopped()) await tick(5);
      throw new StageStopped();
    });
    await expect(run).rejects.toThrow('stage 1 broke');
    expect(seen).toEqual(['0 started', '1 started', '1 broke']);
  });
});
