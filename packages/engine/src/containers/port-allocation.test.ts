import { describe, expect, it } from 'vitest';
import { resolvedPorts } from './port-allocation.js';

describe('published ports after create', () => {
  it("takes the network driver's pick for host port 0 and keeps what the create asked otherwise", () => {
    const requested = [
      { containerPort: 80, protocol: 'tcp' as const, hostIp: '0.0.0.0', hostPort: 0 },
      { containerPort: 80, protocol: 'tcp' as const, hostIp: '127.0.0.1', hostPort: 8080 },
      { containerPort: 53, protocol: 'udp' as const, hostIp: '', hostPort: 0 },
    ];
    const given = [
      { containerPort: 80, protocol: 'tcp' as const, hostIp: '', hostPort: 8080 },
      { containerPort: 80, protocol: 'tcp' as const, hostIp: '', hostPort: 32768 },
      { containerPort: 53, protocol: 'udp' as const, hostIp: '', hostPort: 32769 },
    ];
    expect(resolvedPorts(requested, given)).toEqual([
      { containerPort: 80, protocol: 'tcp', hostIp: '0.0.0.0', hostPort: 32768 },
      { containerPort: 80, protocol: 'tcp', hostIp: '127.0.0.1', hostPort: 8080 },
      { containerPort: 53, protocol: 'udp', hostIp: '', hostPort: 32769 },
    ]);
    expect(resolvedPorts(requested, undefined)).toBe(requested);
  });
});
