import { describe, expect, it } from 'vitest';
import { defaultBridgeFromBip } from './default-bridge.js';

describe('defaultBridgeFromBip', () => {
  it("reads Docker's form: the bridge address with its prefix", () => {
    expect(defaultBridgeFromBip('172.17.0.1/16')).toEqual({ subnet: '172.17.0.0/16', gateway: '172.17.0.1' });
    expect(defaultBridgeFromBip('10.77.9.5/24')).toEqual({ subnet: '10.77.9.0/24', gateway: '10.77.9.5' });
  });
  it('keeps a bare subnet as the subnet, with the gateway at its first address', () => {
    expect(defaultBridgeFromBip('10.89.0.0/24')).toEqual({ subnet: '10.89.0.0/24', gateway: '10.89.0.1' });
  });
  it('refuses what is not an address/prefix, and the broadcast address', () => {
    for (const bad of ['10.1.1.1', '10.1.1.300/24', 'bridge', '10.1.1.1/33', '10.1.1.255/24']) {
      expect(() => defaultBridgeFromBip(bad), bad).toThrow(/invalid bip/);
    }
  });
});
