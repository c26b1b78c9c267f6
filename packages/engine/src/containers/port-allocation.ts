import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { BerthError } from '@berth/image-format';
import type { PublishedPort } from '../spec.js';
import { isRunning } from './context.js';
import type { ContainerRecord, ContainerTable } from './record.js';

/** Port 0 gets a free port; a port another container or process holds is refused as Docker does. */
export async function allocatePorts(table: ContainerTable, r: ContainerRecord): Promise<PublishedPort[]> {
  const inUse = new Set<string>();
  for (const o of table.all()) {
    if (o.id === r.id || !isRunning(o)) continue;
    for (const p of o.ports) inUse.add(`${p.protocol}:${p.hostPort}`);
  }
  const out: PublishedPort[] = [];
  for (const p of r.ports) {
    const hostIp = p.hostIp || '0.0.0.0';
    let hostPort = p.hostPort;
    if (hostPort === 0) hostPort = await freePort(hostIp, p.protocol);
    else if (inUse.has(`${p.protocol}:${hostPort}`) || (p.protocol === 'tcp' && !(await canBind(hostIp, hostPort)))) {
      throw new BerthError('Internal', `driver failed programming external connectivity on endpoint ${r.name} (${r.id}): Bind for ${hostIp}:${hostPort} failed: port is already allocated`);
    }
    inUse.add(`${p.protocol}:${hostPort}`);
    out.push({ ...p, hostPort });
  }
  return out;
}

async function freePort(host: string, protocol: string): Promise<number> {
  if (protocol !== 'tcp') {
    return new Promise((resolve, reject) => {
      const s = createSocket('udp4');
      s.on('error', reject);
      s.bind(0, host === '0.0.0.0' ? undefined : host, () => {
        const port = s.address().port;
        s.close(() => resolve(port));
      });
    });
  }
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, host, () => {
      const a = srv.address();
      srv.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

function canBind(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, host, () => srv.close(() => resolve(true)));
  });
}
