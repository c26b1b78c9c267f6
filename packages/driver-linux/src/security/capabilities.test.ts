import { describe, expect, it } from 'vitest';
import { ALL_CAPABILITIES, DEFAULT_CAPABILITIES, capabilitiesFromMask, resolveCapabilities } from './capabilities.js';

describe('resolveCapabilities', () => {
  it('starts from Docker’s default set', () => {
    expect(resolveCapabilities({}).sort()).toEqual([...DEFAULT_CAPABILITIES].sort());
    expect(DEFAULT_CAPABILITIES).toHaveLength(14);
  });
  it('adds and drops with or without the CAP_ prefix', () => {
    const caps = resolveCapabilities({ capAdd: ['net_admin'], capDrop: ['CAP_CHOWN', 'mknod'] });
    expect(caps).toContain('CAP_NET_ADMIN');
    expect(caps).not.toContain('CAP_CHOWN');
    expect(caps).not.toContain('CAP_MKNOD');
  });
  it('drop ALL then add keeps only the added ones', () => {
    expect(resolveCapabilities({ capDrop: ['ALL'], capAdd: ['NET_BIND_SERVICE'] })).toEqual(['CAP_NET_BIND_SERVICE']);
  });
  it('add ALL minus a drop', () => {
    const caps = resolveCapabilities({ capAdd: ['ALL'], capDrop: ['SYS_ADMIN'] });
    expect(caps).toHaveLength(ALL_CAPABILITIES.length - 1);
    expect(caps).not.toContain('CAP_SYS_ADMIN');
  });
  it('privileged gets everything the host has, never more', () => {
    expect(resolveCapabilities({ privileged: true })).toHaveLength(ALL_CAPABILITIES.length);
    const host = ALL_CAPABILITIES.filter((c) => c !== 'CAP_SYS_RESOURCE');
    expect(resolveCapabilities({ privileged: true }, host)).not.toContain('CAP_SYS_RESOURCE');
  });
  it('rejects unknown names with InvalidArgument', () => {
    expect(() => resolveCapabilities({ capAdd: ['FLY'] })).toThrow(expect.objectContaining({ code: 'InvalidArgument' }));
  });
  it('decodes a /proc status mask', () => {
    expect(capabilitiesFromMask(0b101n)).toEqual(['CAP_CHOWN', 'CAP_DAC_READ_SEARCH']);
  });
});
