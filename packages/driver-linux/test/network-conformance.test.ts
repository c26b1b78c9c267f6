/*
 * The network conformance suite on the CniNetworkManager with the real CNI plugins: its
 * own state dir, netns dir, bridge names and subnets (and a subnet pool nothing else
 * uses); names are asked from inside the container's netns with busybox nslookup.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { runNetworkConformanceSuite } from '@berth/runtime/testsuite';
import { CniNetworkManager } from '../src/network/index.js';
import { execInNetns, findLeftovers, freeSubnet, uniqueBridge } from '../src/network/test-support.js';

const base = await mkdtemp(join(tmpdir(), 'berth-dl-netconf-'));
const subnets = new Set<string>();
const bridges: string[] = [];
let manager: CniNetworkManager | undefined;

async function subnet(): Promise<string> {
  for (;;) {
    const s = await freeSubnet();
    if (!subnets.has(s)) {
      subnets.add(s);
      return s;
    }
  }
}

function bridge(): string {
  const b = uniqueBridge();
  bridges.push(b);
  return b;
}

runNetworkConformanceSuite(
  'linux/cni',
  async () => {
    manager = new CniNetworkManager({
      stateDir: join(base, 'state'),
      netnsDir: join(base, 'netns'),
      defaultNetwork: { name: 'conf-default', bridge: bridge(), subnet: await subnet() },
      subnetPool: { base: '10.214.0.0/16', prefixLen: 24 },
      dns: { upstreams: ['127.0.0.1'], forwardTimeoutMs: 200 },
    });
    return manager;
  },
  {
    subnet,
    bridge,
    leftover: async (_driver, containerId) => existsSync(join(base, 'netns', containerId)),
    async resolve(driver, containerId, name, attachment) {
      const netns = await (driver as CniNetworkManager).netnsPathOf(containerId);
      const server = attachment.nameservers?.[0];
      if (!netns || !server) throw new Error(`${containerId} has no netns or nameserver`);
      const r = await execInNetns(netns, ['busybox', 'nslookup', '-type=a', name, server]);
      // after the server's own lines: `Name: x` then `Address: a.b.c.d` per answer
      const answers = r.stdout.split(/\n\s*\n/).slice(1).join('\n');
      return [...answers.matchAll(/^Address:\s*(\d+\.\d+\.\d+\.\d+)\s*$/gm)].map((m) => m[1]!);
    },
  },
);

afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

it('leaves no bridge, rule or namespace behind', async () => {
  // registered after the suite's describe: runs once its afterAll removed everything
  // every container id of the suite starts with `netconf`
  const left = await findLeftovers({ bridges, containerIds: ['netconf'], subnets: [...subnets], netnsDirs: [join(base, 'netns')] });
  expect(left).toEqual({ links: [], netns: [], rules: [] });
});
