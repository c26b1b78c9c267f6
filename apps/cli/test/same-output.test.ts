import { describe, expect, it } from 'vitest';
import { sameUpToSecondTicks } from './support/cli.js';

// The CLI comparisons forgive only the clock: a load spike put berth's and docker's `ps` a
// second apart on all five tries ("25 seconds ago" vs "26 seconds ago").
describe('sameUpToSecondTicks', () => {
  it('forgives counts of seconds a tick or two apart', () => {
    expect(sameUpToSecondTicks('abc  25 seconds ago  Up 24 seconds', 'abc  26 seconds ago  Up 26 seconds')).toBe(true);
    expect(sameUpToSecondTicks('Created 1 second ago', 'Created 2 seconds ago')).toBe(true);
  });

  it('sees every other difference', () => {
    expect(sameUpToSecondTicks('25 seconds ago', '29 seconds ago')).toBe(false);
    expect(sameUpToSecondTicks('Up 25 seconds', 'Exited (0) 25 seconds ago')).toBe(false);
    expect(sameUpToSecondTicks('25 minutes ago', '26 minutes ago')).toBe(false);
    expect(sameUpToSecondTicks('0.0.0.0:25 seconds', '0.0.0.0:26 minutes')).toBe(false);
    expect(sameUpToSecondTicks('a 25 seconds ago', 'b 25 seconds ago')).toBe(false);
  });
});
