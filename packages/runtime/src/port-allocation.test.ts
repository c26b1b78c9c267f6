import { describe, expect, it } from 'vitest';
import { allocatePorts, portsClash, type HostPorts } from './port-allocation.js';
import type { PublishedPort } from './network.js';

const port = (hostPort: number, extra: Partial<PublishedPort> = {}): PublishedPort => ({ hostIp: '', hostPort, containerPort: 80, protocol: 'tcp', ...extra });

/** A host where `busy` ports are bound by host processes and host port 0 counts up from `next`. */
function host(options: { busy?: number[]; foreign?: PublishedPort[]; next?: number; notMine?: string } = {}): HostPorts & { tried: number[] } {
  let next = options.next ?? 40000;
  const tried: number[] = [];
  return {
    tried,
    tryBind: async (p) => {
      tried.push(p.hostPort);
      if (options.notMine && p.hostIp === options.notMine) return 'EADDRNOTAVAIL';
      return options.busy?.includes(p.hostPort) ? 'EADDRINUSE' : undefined;
    },
    ephemeral: async () => next++,
    ...(options.foreign ? { foreign: async () => options.foreign!, foreignOwner: 'another CNI user' } : {}),
  };
}

describe('allocatePorts', () => {
  it('clashes on the wildcard, the same address, same protocol only', () => {
    const p = (hostIp: string, protocol = 'tcp') => ({ hostIp, hostPort: 80, protocol });
    expect(portsClash(p(''), p('127.0.0.1'))).toBe(true);
    expect(portsClash(p('127.0.0.1'), p('127.0.0.1'))).toBe(true);
    expect(portsClash(p('127.0.0.1'), p('127.0.0.2'))).toBe(false);
    expect(portsClash(p(''), p('', 'udp'))).toBe(false);
  });

  it('keeps free fixed ports and checks them on the host', async () => {
    const h = host();
    expect(await allocatePorts([port(8080), port(8080, { protocol: 'udp' })], [], h)).toEqual([port(8080), port(8080, { protocol: 'udp' })]);
    expect(h.tried).toEqual([8080, 8080]);
  });

  it('refuses a fixed port a container, another publisher or a host process holds, naming who', async () => {
    const published = [{ containerId: 'c1', ports: [port(8080, { hostIp: '127.0.0.1' })] }];
    await expect(allocatePorts([port(8080)], published, host())).rejects.toMatchObject({ code: 'Conflict', message: expect.stringContaining('published by container c1') });
    await expect(allocatePorts([port(9090)], [], host({ foreign: [port(9090)] }))).rejects.toMatchObject({ code: 'Conflict', message: expect.stringContaining('forwarded by another CNI user') });
    await expect(allocatePorts([port(7070)], [], host({ busy: [7070] }))).rejects.toMatchObject({
      code: 'Conflict',
      message: 'Bind for 0.0.0.0:7070 failed: port is already allocated (a host process is bound to it)',
    });
    await expect(allocatePorts([port(7070, { hostIp: '192.0.2.9' })], [], host({ notMine: '192.0.2.9' }))).rejects.toMatchObject({ code: 'InvalidArgument' });
  });

  it('refuses a host port asked twice in one request', async () => {
    await expect(allocatePorts([port(8080), port(8080, { containerPort: 81 })], [], host())).rejects.toMatchObject({ code: 'InvalidArgument' });
  });

  it('gives host port 0 a candidate nothing holds, distinct within the request', async () => {
    const published = [{ containerId: 'c1', ports: [port(40000)] }];
    const out = await allocatePorts([port(0), port(40002), port(0)], published, host({ foreign: [port(40001)] }));
    expect(out.map((p) => p.hostPort)).toEqual([40003, 40002, 40004]);
  });

  it('gives up after 20 candidates', async () => {
    const published = [{ containerId: 'c1', ports: Array.from({ length: 20 }, (_, i) => port(40000 + i)) }];
    await expect(allocatePorts([port(0)], published, host())).rejects.toMatchObject({ code: 'Conflict', message: expect.stringContaining('no free host port') });
  });
});
