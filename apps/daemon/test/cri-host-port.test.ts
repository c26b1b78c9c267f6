import { execFile } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCriHarness, until, type CriHarness } from './support/cri-harness.js';

const run = promisify(execFile);

// A pod's port_mappings (hostPort) as kubelet sends them: a server in a container reached
// from the host on 127.0.0.1 and on the host's own address, and nothing left of the mapping
// (no listener, no iptables rule) once the pod is stopped.
describe('CRI hostPort', () => {
  let h: CriHarness;
  beforeAll(async () => {
    h = await startCriHarness();
  });
  afterAll(async () => {
    await h?.stop();
  });

  it('publishes host_port -> container_port on 127.0.0.1 and the host address until StopPodSandbox', async () => {
    const port = await freePort();
    const hostIp = await hostAddress();
    const pod = await h.runPod(h.podConfig({ port_mappings: [{ protocol: 0, container_port: 8080, host_port: port }] }));
    await h.runContainer(pod, 'web', 'echo served > /tmp/index.html; exec httpd -f -p 8080 -h /tmp');
    for (const addr of ['127.0.0.1', hostIp]) {
      const got = await until(() => get(addr, port), (r) => r === 'served\n');
      expect(got, `http://${addr}:${port}/`).toBe('served\n');
    }
    expect(await natRules(port)).not.toEqual([]);

    await h.cri.rt('StopPodSandbox', { pod_sandbox_id: pod.id });
    for (const addr of ['127.0.0.1', hostIp]) expect(await get(addr, port)).toMatch(/^error/);
    expect(await natRules(port)).toEqual([]);
    await h.cri.rt('RemovePodSandbox', { pod_sandbox_id: pod.id });
    expect(await natRules(port)).toEqual([]);
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '0.0.0.0', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** The host's address on its default route's interface (what a node's IP is). */
async function hostAddress(): Promise<string> {
  const { stdout } = await run('ip', ['-4', '-o', 'route', 'get', '192.0.2.255']).catch(() => run('ip', ['-4', '-o', 'route', 'show', 'default']));
  const src = /\bsrc (\d+\.\d+\.\d+\.\d+)/.exec(stdout)?.[1];
  if (src) return src;
  const dev = /\bdev (\S+)/.exec(stdout)?.[1];
  const { stdout: addr } = await run('ip', ['-4', '-o', 'addr', 'show', 'dev', dev ?? 'eth0']);
  const ip = /inet (\d+\.\d+\.\d+\.\d+)/.exec(addr)?.[1];
  if (!ip) throw new Error(`no IPv4 address for the host in: ${stdout}`);
  return ip;
}

/** The body, or `error: ...` (refused, reset, timed out). */
function get(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const req = http.get({ host, port, path: '/index.html', timeout: 2000, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(Buffer.concat(chunks).toString()));
      res.on('error', (e) => resolve(`error: ${e.message}`));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve(`error: ${e.message}`));
  });
}

/** nat rules that mention the port (portmap's DNAT and its chains' jumps). */
async function natRules(port: number): Promise<string[]> {
  const { stdout } = await run('iptables-save', ['-t', 'nat']);
  return stdout.split('\n').filter((l) => new RegExp(`--dport ${port}\\b|:${port}\\b`).test(l));
}
