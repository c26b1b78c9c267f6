import { describe, expect, it } from 'vitest';
import { isValidContainerId, signalNumber } from './signals.js';

describe('signalNumber', () => {
  it('accepts names, short names and numbers', () => {
    expect(signalNumber('SIGTERM')).toBe(15);
    expect(signalNumber('term')).toBe(15);
    expect(signalNumber('9')).toBe(9);
    expect(signalNumber(2)).toBe(2);
  });
  it('rejects unknown signals with InvalidArgument', () => {
    expect(() => signalNumber('SIGNOPE')).toThrow(expect.objectContaining({ code: 'InvalidArgument' }));
    expect(() => signalNumber(0)).toThrow();
  });
});

describe('isValidContainerId', () => {
  it('allows file-name-safe ids only', () => {
    expect(isValidContainerId('abc-1.2_x')).toBe(true);
    expect(isValidContainerId('../x')).toBe(false);
    expect(isValidContainerId('')).toBe(false);
  });
});
