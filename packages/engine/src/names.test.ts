import { describe, expect, it } from 'vitest';
import { newId } from './names.js';

describe('newId', () => {
  it('never starts with 12 digits: the short ID is the hostname, and an all-digit one resolves as no host', () => {
    // about 1 in 280 random IDs starts so ((10/16)^12): 20000 held 68 of them before
    const ids = Array.from({ length: 20_000 }, newId);
    expect(ids.filter((id) => /^\d{12}/.test(id))).toEqual([]);
    expect(ids.every((id) => /^[0-9a-f]{64}$/.test(id))).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
  });
});
