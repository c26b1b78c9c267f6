import { describe, expect, it } from 'vitest';
import { defaultIsolation, parseIsolation } from './isolation.js';

describe('isolation as dockerd validates it', () => {
  it('accepts only default on Linux, with dockerd 20.10 text otherwise', () => {
    expect(parseIsolation(undefined, 'linux')).toBeUndefined();
    expect(parseIsolation('', 'linux')).toBeUndefined();
    expect(parseIsolation('DeFault', 'linux')).toBe('default');
    // the text a dockerd 20.10 on this machine answers to `docker run --isolation=process`
    expect(() => parseIsolation('process', 'linux')).toThrow(`Invalid isolation: "process" - linux only supports 'default'`);
    expect(() => parseIsolation('hyperv', 'linux')).toThrow(/linux only supports 'default'/);
  });

  it('accepts process and hyperv on Windows, case-insensitively', () => {
    expect(parseIsolation('Process', 'windows')).toBe('process');
    expect(parseIsolation('HYPERV', 'windows')).toBe('hyperv');
    expect(() => parseIsolation('vm', 'windows')).toThrow(`Invalid isolation: "vm" - windows only supports 'default', 'process', or 'hyperv'`);
  });

  it('defaults as dockerd: namespaces on Linux, process on Server, Hyper-V on client editions', () => {
    expect(defaultIsolation('linux')).toBe('default');
    expect(defaultIsolation('windows', true)).toBe('process');
    expect(defaultIsolation('windows', false)).toBe('hyperv');
  });
});
