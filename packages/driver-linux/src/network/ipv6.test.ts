import { describe, expect, it } from 'vitest';
import { cidr6Contains, cidrs6Overlap, formatCidr6, formatIpv6, lastAddress6, parseCidr6, parseIpv6 } from './ipv6.js';

describe('ipv6', () => {
  it('parses and formats addresses in RFC 5952 form', () => {
    expect(formatIpv6(parseIpv6('2001:389:0:0:0:0:0:F00D'))).toBe('2001:389::f00d');
    expect(formatIpv6(parseIpv6('::'))).toBe('::');
    expect(formatIpv6(parseIpv6('::1'))).toBe('::1');
    expect(formatIpv6(parseIpv6('fe80::1:0:0:1'))).toBe('fe80::1:0:0:1');
    expect(formatIpv6(parseIpv6('::ffff:10.0.0.1'))).toBe('::ffff:a00:1');
    expect(() => parseIpv6('10.0.0.1')).toThrow(/invalid IPv6/);
  });

  it('parses prefixes, refuses host bits, and compares them', () => {
    const a = parseCidr6('2001:389::/64');
    expect(formatCidr6(a)).toBe('2001:389::/64');
    expect(() => parseCidr6('2001:389::1/64')).toThrow(/host bits/);
    expect(() => parseCidr6('2001:389::/129')).toThrow(/invalid IPv6 CIDR/);
    expect(cidr6Contains(a, parseIpv6('2001:389::f00d'))).toBe(true);
    expect(cidr6Contains(a, parseIpv6('2001:388::1'))).toBe(false);
    expect(cidrs6Overlap(a, parseCidr6('2001:389::/96'))).toBe(true);
    expect(cidrs6Overlap(a, parseCidr6('2001:38a::/64'))).toBe(false);
    expect(formatIpv6(lastAddress6(parseCidr6('2001:389::/96')))).toBe('2001:389::ffff:ffff');
  });
});
