import { describe, expect, it } from 'vitest';
import { parseNetDev } from './stats.js';

describe('network stats', () => {
  it('reads /proc/<pid>/net/dev counters per interface, loopback left out, none when only lo', () => {
    const text = [
      'Inter-|   Receive                                                |  Transmit',
      ' face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed',
      '    lo:     100       2    0    0    0     0          0         0      100       2    0    0    0     0       0          0',
      '  eth0:     746       7    1    2    0     0          0         0       42       1    3    4    0     0       0          0',
      '',
    ].join('\n');
    expect(parseNetDev(text)).toEqual({
      eth0: { rx_bytes: 746, rx_packets: 7, rx_errors: 1, rx_dropped: 2, tx_bytes: 42, tx_packets: 1, tx_errors: 3, tx_dropped: 4 },
    });
    expect(parseNetDev(text.split('\n').slice(0, 3).join('\n'))).toBeUndefined();
  });
});
