import { readFile } from 'node:fs/promises';
import { BerthError, ConflictError } from '@berth/image-format';
import { parseCidr, type Ipv4Cidr } from './ipv4.js';
import { runCommand, runChecked } from './run-command.js';

interface HostRoute {
  dst: Ipv4Cidr;
  dev: string | undefined;
}

/** IPv4 routes of the host's main table, the default route left out. */
export async function listHostRoutes(): Promise<HostRoute[]> {
  const out = await runChecked('ip', ['-j', '-4', 'route', 'show', 'table', 'main']);
  const parsed = JSON.parse(out || '[]') as { dst?: string; dev?: string }[];
  const routes: HostRoute[] = [];
  for (const r of parsed) {
    if (!r.dst || r.dst === 'default') continue;
    try {
      routes.push({ dst: parseCidr(r.dst, 'route', false), dev: r.dev });
    } catch {
      // unusual route forms (e.g. multicast keywords) are not subnets
    }
  }
  return routes;
}

export async function linkExists(name: string): Promise<boolean> {
  const r = await runCommand('ip', ['-j', 'link', 'show', 'dev', name]);
  return r.code === 0;
}

/**
 * Creates the bridge up front with the gateway address, so the network's subnet shows
 * in the host's routes (claimed against other networks) before any container joins.
 * The CNI bridge plugin then adopts it as is. A bridge that is already there (an earlier
 * Berth on another root, a reinstall) is used as it is when it has the address; one with
 * another IPv4 address is refused, naming both, and left alone. Returns whether the link
 * was made here: only then may a caller that fails afterwards delete it.
 */
export async function ensureBridge(
  name: string,
  gateway: string,
  prefixLen: number,
  v6?: { gateway: string; prefixLen: number },
): Promise<{ created: boolean }> {
  const wanted = `${gateway}/${prefixLen}`;
  let created = false;
  const present = await bridgeAddresses(name);
  if (present === undefined) {
    // A fixed address: a bridge without one takes the lowest of its ports' MACs, so it
    // changed whenever a container's veth came or went, and the containers' ARP entry
    // for the gateway went stale (packets to the gateway lost for seconds).
    const add = await runCommand('ip', ['link', 'add', 'name', name, 'address', bridgeMac(gateway), 'type', 'bridge']);
    if (add.code !== 0 && !(await linkExists(name))) {
      throw new BerthError('Internal', `cannot create bridge ${name}: ${add.stderr.trim()}`);
    }
    created = add.code === 0;
  } else if (present.length > 0 && !present.includes(wanted)) {
    throw new ConflictError(
      `bridge ${name} already exists with address ${present.join(', ')}, not ${wanted}: delete it (ip link del ${name}) or set "bip" (or "bridge") in daemon.json to match`,
    );
  }
  if (!present?.includes(wanted)) {
    const addr = await runCommand('ip', ['addr', 'add', wanted, 'dev', name]);
    // iproute2 words EEXIST "File exists" or "Address already assigned": fine if it is ours
    if (addr.code !== 0 && !(await bridgeAddresses(name))?.includes(wanted)) {
      throw new BerthError('Internal', `cannot address bridge ${name} with ${wanted}: ${addr.stderr.trim()}`);
    }
  }
  if (v6) {
    // Up front, as the IPv4 gateway: the bridge plugin adding it itself then also re-sets
    // the bridge's MAC, which this kernel refuses (EINVAL). nodad: usable at once.
    const a6 = await runCommand('ip', ['-6', 'addr', 'add', `${v6.gateway}/${v6.prefixLen}`, 'dev', name, 'nodad']);
    if (a6.code !== 0 && !/File exists/i.test(a6.stderr)) throw new BerthError('Internal', `cannot address bridge ${name}: ${a6.stderr.trim()}`);
  }
  await runChecked('ip', ['link', 'set', 'dev', name, 'up']);
  return { created };
}

/**
 * The IPv4 addresses (`a.b.c.d/len`) of bridge `name`; undefined when there is no such
 * link. A link of that name that is not a bridge is someone else's: refused.
 */
async function bridgeAddresses(name: string): Promise<string[] | undefined> {
  const link = await runCommand('ip', ['-j', '-d', 'link', 'show', 'dev', name]);
  if (link.code !== 0) return undefined;
  const [info] = JSON.parse(link.stdout || '[]') as { linkinfo?: { info_kind?: string } }[];
  const kind = info?.linkinfo?.info_kind;
  if (kind !== 'bridge') throw new ConflictError(`a network interface named ${name} already exists on the host and is not a bridge (${kind ?? 'no kind'})`);
  const out = await runChecked('ip', ['-j', '-4', 'addr', 'show', 'dev', name]);
  const [addrs] = JSON.parse(out || '[]') as { addr_info?: { local?: string; prefixlen?: number }[] }[];
  return (addrs?.addr_info ?? []).filter((a) => a.local).map((a) => `${a.local}/${a.prefixlen}`);
}

/** A locally administered unicast MAC made from the gateway address: stable per network. */
export function bridgeMac(gateway: string): string {
  const octets = gateway.split('.').map((o) => (Number(o) & 0xff).toString(16).padStart(2, '0'));
  return ['02', 'b3', ...octets].join(':');
}

/**
 * Gives a bridge made without one (by an earlier Berth) its fixed MAC. Reads sysfs only
 * (`addr_assign_type` 3 = set by hand); never fails the caller.
 */
export async function pinBridgeMac(name: string, gateway: string): Promise<void> {
  const type = await readFile(`/sys/class/net/${name}/addr_assign_type`, 'utf8').catch(() => '3');
  if (type.trim() !== '3') await runCommand('ip', ['link', 'set', 'dev', name, 'address', bridgeMac(gateway)]);
}

/** Deletes a link; a missing one is fine. */
export async function deleteLink(name: string): Promise<void> {
  const r = await runCommand('ip', ['link', 'del', 'dev', name]);
  if (r.code !== 0 && (await linkExists(name))) {
    throw new BerthError('Internal', `cannot delete link ${name}: ${r.stderr.trim()}`);
  }
}
