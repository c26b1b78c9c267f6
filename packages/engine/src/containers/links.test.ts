import { describe, expect, it } from 'vitest';
import { linkEnv, linkHostsEntry, parseLink, withLinkEnv } from './links.js';

describe('legacy links', () => {
  it("gives moby's link environment (ports by number, tcp first; a run of three or more ports as _START/_END)", () => {
    // dockerd 20.10's answer for --expose 8000-8002 --expose 8001/udp --expose 7 -e HOME=/h -e A=b=c, linked as my-db
    const env = linkEnv('parent', 'my-db', { name: 'child', hostname: 'abc', ip: '172.17.0.3', env: ['HOME=/h', 'A=b=c', 'PATH=/bin'], exposedPorts: ['8000/tcp', '8001/tcp', '8002/tcp', '8001/udp', '7/tcp'] });
    expect(env).toEqual([
      'MY_DB_PORT=tcp://172.17.0.3:7',
      'MY_DB_PORT_8000_TCP_START=tcp://172.17.0.3:8000',
      'MY_DB_PORT_8000_TCP_ADDR=172.17.0.3',
      'MY_DB_PORT_8000_TCP_PROTO=tcp',
      'MY_DB_PORT_8000_TCP_PORT_START=8000',
      'MY_DB_PORT_8000_TCP_END=tcp://172.17.0.3:8002',
      'MY_DB_PORT_8000_TCP_PORT_END=8002',
      'MY_DB_PORT_7_TCP=tcp://172.17.0.3:7',
      'MY_DB_PORT_7_TCP_ADDR=172.17.0.3',
      'MY_DB_PORT_7_TCP_PORT=7',
      'MY_DB_PORT_7_TCP_PROTO=tcp',
      'MY_DB_PORT_8000_TCP=tcp://172.17.0.3:8000',
      'MY_DB_PORT_8000_TCP_PORT=8000',
      'MY_DB_PORT_8001_TCP=tcp://172.17.0.3:8001',
      'MY_DB_PORT_8001_TCP_ADDR=172.17.0.3',
      'MY_DB_PORT_8001_TCP_PORT=8001',
      'MY_DB_PORT_8001_TCP_PROTO=tcp',
      'MY_DB_PORT_8001_UDP=udp://172.17.0.3:8001',
      'MY_DB_PORT_8001_UDP_ADDR=172.17.0.3',
      'MY_DB_PORT_8001_UDP_PORT=8001',
      'MY_DB_PORT_8001_UDP_PROTO=udp',
      'MY_DB_PORT_8002_TCP=tcp://172.17.0.3:8002',
      'MY_DB_PORT_8002_TCP_ADDR=172.17.0.3',
      'MY_DB_PORT_8002_TCP_PORT=8002',
      'MY_DB_PORT_8002_TCP_PROTO=tcp',
      'MY_DB_NAME=/parent/my-db',
      'MY_DB_ENV_A=b=c',
    ]);
    // the container's own variables win
    expect(withLinkEnv(env, ['MY_DB_ENV_A=mine'])).toContain('MY_DB_ENV_A=mine');
    expect(withLinkEnv(env, ['MY_DB_ENV_A=mine'])).not.toContain('MY_DB_ENV_A=b=c');
  });

  it('parses the link forms and writes the hosts entry as Docker (name left out when it is the alias)', () => {
    expect(parseLink('db:my-db')).toEqual({ target: 'db', alias: 'my-db' });
    expect(parseLink('/db:/web/my-db')).toEqual({ target: 'db', alias: 'my-db' });
    expect(parseLink('db')).toEqual({ target: 'db', alias: 'db' });
    const child = { name: 'db', hostname: 'b10b1a08ebab', ip: '172.17.0.2', env: [], exposedPorts: [] };
    expect(linkHostsEntry('mylink1', child)).toBe('mylink1 b10b1a08ebab db:172.17.0.2');
    expect(linkHostsEntry('db', child)).toBe('db b10b1a08ebab:172.17.0.2');
  });
});
