import { describe, expect, it } from 'vitest';
import { parseNetDev } from './net-stats.js';

describe('stats networks', () => {
  it('reads /proc/<pid>/net/dev as Docker shows it (loopback left out)', () => {
    const text = [
      'Inter-|   Receive                                                |  Transmit',
      ' face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed',
      '    lo:     120       2    0    0    0     0          0         0      120       2    0    0    0     0       0          0',
      '  eth0:    1836      22    1    2    0     0          0         0      866      11    3    4    0     0       0          0',
    ].join('\n');
    expect(parseNetDev(text)).toEqual({ eth0: { rx_bytes: 1836, rx_packets: 22, rx_errors: 1, rx_dropped: 2, tx_bytes: 866, tx_packets: 11, tx_errors: 3, tx_dropped: 4 } });
    expect(parseNetDev(text.split('\n').slice(0, 3).join('\n'))).toBeUndefined();
  });
});
