import { describe, expect, it } from 'vitest';
import { cidrContains, cidrsOverlap, formatCidr, formatIpv4, parseCidr, parseIpv4, subnetsOf } from './ipv4.js';
import { portsClash } from '@berth/runtime';
import { normalizePorts } from './ports.js';

describe('ipv4', () => {
  it('parses and formats addresses and subnets', () => {
    expect(formatIpv4(parseIpv4('10.213.7.254'))).toBe('10.213.7.254');
    expect(formatCidr(parseCidr('10.90.0.0/16'))).toBe('10.90.0.0/16');
    expect(formatCidr(parseCidr('192.0.2.7', 'route', false))).toBe('192.0.2.7/32');
    expect(formatCidr(parseCidr('10.1.2.3/8', 'route', false))).toBe('10.0.0.0/8');
    expect(() => parseCidr('10.1.2.3/8')).toThrow(/host bits set/);
    expect(() => parseCidr('10.1.2/24')).toThrow(/invalid/);
    expect(() => parseCidr('10.1.2.0/33')).toThrow(/invalid/);
    expect(() => parseIpv4('256.1.1.1')).toThrow(/invalid IPv4/);
  });

  it('detects overlap and containment', () => {
    const a = parseCidr('10.88.0.0/16');
    expect(cidrsOverlap(a, parseCidr('10.88.5.0/24'))).toBe(true);
    expect(cidrsOverlap(parseCidr('10.88.5.0/24'), a)).toBe(true);
    expect(cidrsOverlap(a, parseCidr('10.89.0.0/24'))).toBe(false);
    expect(cidrsOverlap(parseCidr('0.0.0.0/0'), a)).toBe(true);
    expect(cidrContains(parseCidr('172.17.0.0/16'), parseIpv4('172.17.255.255'))).toBe(true);
    expect(cidrContains(parseCidr('172.17.0.0/16'), parseIpv4('172.18.0.1'))).toBe(false);
  });

  it('splits a pool into subnets in order', () => {
    const subnets = [...subnetsOf(parseCidr('10.90.0.0/22'), 24)].map(formatCidr);
    expect(subnets).toEqual(['10.90.0.0/24', '10.90.1.0/24', '10.90.2.0/24', '10.90.3.0/24']);
  });
});

describe('port mappings', () => {
  it('normalises and validates', () => {
    expect(normalizePorts([{ hostPort: 8080, containerPort: 80, protocol: 'tcp', hostIp: '0.0.0.0' }])).toEqual([
      { hostIp: '', hostPort: 8080, containerPort: 80, protocol: 'tcp' },
    ]);
    expect(() => normalizePorts([{ hostPort: 65536, containerPort: 80, protocol: 'tcp' }])).toThrow(/hostPort/);
    expect(normalizePorts([{ hostPort: 0, containerPort: 53, protocol: 'udp' }])[0]).toMatchObject({ hostPort: 0, protocol: 'udp' });
    expect(normalizePorts([{ hostPort: 1, containerPort: 53 }])[0]?.protocol).toBe('tcp');
    // Docker sends 0.0.0.0 and :: for one -p 8080:80: one IPv4 wildcard mapping.
    expect(normalizePorts([{ hostIp: '0.0.0.0', hostPort: 8080, containerPort: 80 }, { hostIp: '::', hostPort: 8080, containerPort: 80 }])).toHaveLength(1);
    expect(() => normalizePorts([{ hostIp: '::1', hostPort: 1, containerPort: 80, protocol: 'tcp' }])).toThrow(/IPv4/);
  });

  it('clashes on the wildcard, the same address, same protocol only', () => {
    const p = (hostIp: string, protocol = 'tcp') => ({ hostIp, hostPort: 80, protocol });
    expect(portsClash(p(''), p('127.0.0.1'))).toBe(true);
    expect(portsClash(p('127.0.0.1'), p('127.0.0.1'))).toBe(true);
    expect(portsClash(p('127.0.0.1'), p('127.0.0.2'))).toBe(false);
    expect(portsClash(p(''), p('', 'udp'))).toBe(false);
  });
});
