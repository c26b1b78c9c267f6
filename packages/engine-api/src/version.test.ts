import { describe, expect, it } from 'vitest';
import { compareApiVersions } from './version.js';

describe('compareApiVersions', () => {
  it('compares numerically', () => {
    expect(compareApiVersions('1.9', '1.10')).toBeLessThan(0);
    expect(compareApiVersions('1.50', '1.50')).toBe(0);
    expect(compareApiVersions('1.51', '1.50')).toBeGreaterThan(0);
    expect(compareApiVersions('2', '1.99')).toBeGreaterThan(0);
  });
});
