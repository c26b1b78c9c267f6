import { describe, expect, it } from 'vitest';
import { parseNetDev } from './host-view.js';

describe('interface counters', () => {
  it('reads /proc/<pid>/net/dev (loopback left out)', () => {
    const text = [
      'Inter-|   Receive                                                |  Transmit',
      ' face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed',
      '    lo:     120       2    0    0    0     0          0         0      120       2    0    0    0     0       0          0',
      '  eth0:    1836      22    1    2    0     0          0         0      866      11    3    4    0     0       0          0',
    ].join('\n');
    expect(parseNetDev(text)).toEqual({ eth0: { rxBytes: 1836, rxPackets: 22, rxErrors: 1, rxDropped: 2, txBytes: 866, txPackets: 11, txErrors: 3, txDropped: 4 } });
    expect(parseNetDev(text.split('\n').slice(0, 3).join('\n'))).toBeUndefined();
  });
});
