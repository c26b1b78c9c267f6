import { describe, expect, it } from 'vitest';
import { DEFAULT_PATH, mergeEnv } from './config.js';

describe('mergeEnv', () => {
  it('image env first, then user env; PATH and HOME filled', () => {
    expect(mergeEnv(['A=1', 'B=image'], ['B=user', 'C'], '/home/u')).toEqual(['A=1', 'B=user', 'C=', `PATH=${DEFAULT_PATH}`, 'HOME=/home/u']);
    expect(mergeEnv(['PATH=/x'], ['HOME=/h'], '/ignored')).toEqual(['PATH=/x', 'HOME=/h']);
  });
});
