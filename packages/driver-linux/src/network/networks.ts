import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ConflictError, InvalidArgumentError, NotFoundError } from '@berth/image-format';
import { bridgeV6, type NetworkAttachmentRecord } from './endpoint-records.js';
import { deleteLink, ensureBridge, linkExists, listHostRoutes, pinBridgeMac } from './host-links.js';
import { extraAddressing, ipamDir, networkKey, reserveAuxiliary } from './ipam-config.js';
import { deleteRules, installNetworkRules, pruneBerthChains, pruneSharedChains } from './iptables.js';
import { cidrContains, cidrSize, cidrsOverlap, formatCidr, formatIpv4, nthAddress, parseCidr, parseIpv4, subnetsOf, type Ipv4Cidr } from './ipv4.js';
import { JsonRecordDir } from './state-store.js';
import type { CniNetworkManagerOptions, CreateNetworkOptions, NetworkDetails, NetworkInfo } from './types.js';

const BRIDGE_RE = /^[a-zA-Z0-9_.-]{1,15}$/;
const RESERVED_NETWORK_NAMES = new Set(['host', 'none']);

/** What a network needs to know of the containers on it. */
interface NetworkUser {
  containerId: string;
  hostname?: string;
  networks: NetworkAttachmentRecord[];
}

/**
 * The bridge networks: their records, their bridges and iptables rules, the default
 * network and the pool new subnets come from. Callers hold the manager's lock around
 * the methods named `...Locked` (they read, then write, the records).
 */
export class BridgeNetworks {
  readonly defaultNetwork: { name: string; bridge: string; subnet: string; gateway?: string };
  private readonly pool: { base: Ipv4Cidr; prefixLen: number };
  private readonly records: JsonRecordDir<NetworkInfo>;
  /** Bridges whose MAC this manager has checked (once each: the run path stays free of it). */
  private readonly pinnedBridges = new Set<string>();

  constructor(
    private readonly stateDir: string,
    options: CniNetworkManagerOptions,
  ) {
    this.defaultNetwork = {
      name: options.defaultNetwork?.name ?? 'berth',
      bridge: options.defaultNetwork?.bridge ?? 'berth0',
      subnet: options.defaultNetwork?.subnet ?? '10.90.0.0/24',
      ...(options.defaultNetwork?.gateway ? { gateway: options.defaultNetwork.gateway } : {}),
    };
    const poolText = options.subnetPool ?? { base: '10.90.0.0/16', prefixLen: 24 };
    this.pool = { base: parseCidr(poolText.base, 'subnetPool.base'), prefixLen: poolText.prefixLen };
    if (!Number.isInteger(this.pool.prefixLen) || this.pool.prefixLen < this.pool.base.prefixLen || this.pool.prefixLen > 30) {
      throw new InvalidArgumentError('subnetPool.prefixLen: must be between the base prefix and 30');
    }
    this.records = new JsonRecordDir(join(this.stateDir, 'networks'));
  }

  /** Any name Docker takes (spaces, slashes...) maps to a safe file and CNI key. */
  private key(name: string): string {
    if (!name || name.length > 1024 || name.includes('\0')) throw new InvalidArgumentError(`invalid network name ${JSON.stringify(name)}`);
    return networkKey(name);
  }

  get(name: string): Promise<NetworkInfo | undefined> {
    return this.records.get(this.key(name));
  }

  /** A network by its record key (networkKey of its name), for readers that hold the key. */
  byKey(key: string): Promise<NetworkInfo | undefined> {
    return this.records.get(key);
  }

  values(): Promise<NetworkInfo[]> {
    return this.records.values();
  }

  /** The network an endpoint names; the default one is created on first use. */
  async forEndpointLocked(name: string): Promise<NetworkInfo | undefined> {
    return name === this.defaultNetwork.name ? this.ensureDefaultLocked() : this.get(name);
  }

  /** Bridges made before their MAC was fixed get it at their first use (see ensureBridge). */
  async pinBridgeOnce(net: NetworkInfo): Promise<void> {
    if (this.pinnedBridges.has(net.bridge)) return;
    this.pinnedBridges.add(net.bridge);
    await pinBridgeMac(net.bridge, net.gateway).catch(() => undefined);
  }

  async ensureDefaultLocked(): Promise<NetworkInfo> {
    const existing = await this.get(this.defaultNetwork.name);
    if (existing) return existing;
    return this.createLocked({ ...this.defaultNetwork }, true);
  }

  async createLocked(options: CreateNetworkOptions, isDefault = false): Promise<NetworkInfo> {
    const name = options.name;
    if (RESERVED_NETWORK_NAMES.has(name)) throw new InvalidArgumentError(`network name ${name} is reserved`);
    if (await this.get(name)) throw new ConflictError(`network with name ${name} already exists`);
    const others = await this.records.values();

    const bridge = options.bridge ?? `berth${randomBytes(4).toString('hex')}`;
    if (!BRIDGE_RE.test(bridge)) throw new InvalidArgumentError(`bridge: invalid interface name ${JSON.stringify(bridge)} (at most 15 characters)`);
    if (others.some((n) => n.bridge === bridge)) throw new ConflictError(`bridge ${bridge} is already used by another network`);
    // The default bridge may survive a lost stateDir: adopt it; any other existing device is someone else's.
    if (!isDefault && (await linkExists(bridge))) throw new ConflictError(`bridge: a network interface named ${bridge} already exists on the host`);

    const routes = (await listHostRoutes()).filter((r) => r.dev !== bridge);
    const taken: { cidr: Ipv4Cidr; what: string }[] = [
      ...others.map((n) => ({ cidr: parseCidr(n.subnet), what: `network ${n.name} (${n.subnet})` })),
      ...routes.map((r) => ({ cidr: r.dst, what: `host route ${formatCidr(r.dst)}${r.dev ? ` dev ${r.dev}` : ''}` })),
    ];
    if (!isDefault && !others.some((n) => n.name === this.defaultNetwork.name)) {
      taken.push({ cidr: parseCidr(this.defaultNetwork.subnet, 'defaultNetwork.subnet'), what: `the default network ${this.defaultNetwork.name} (${this.defaultNetwork.subnet})` });
    }

    let subnet: Ipv4Cidr | undefined;
    if (options.subnet !== undefined) {
      subnet = parseCidr(options.subnet, 'subnet');
      if (subnet.prefixLen < 8 || subnet.prefixLen > 30) throw new InvalidArgumentError(`subnet: prefix length must be between 8 and 30, got ${subnet.prefixLen}`);
      const clash = taken.find((t) => cidrsOverlap(t.cidr, subnet as Ipv4Cidr));
      if (clash) throw new ConflictError(`subnet ${options.subnet} overlaps ${clash.what}`);
    } else {
      for (const candidate of subnetsOf(this.pool.base, this.pool.prefixLen)) {
        if (!taken.some((t) => cidrsOverlap(t.cidr, candidate))) {
          subnet = candidate;
          break;
        }
      }
      if (!subnet) throw new ConflictError(`no free /${this.pool.prefixLen} subnet left in pool ${formatCidr(this.pool.base)}`);
    }

    let gateway = nthAddress(subnet, 1);
    if (options.gateway !== undefined) {
      gateway = parseIpv4(options.gateway, 'gateway');
      const last = nthAddress(subnet, cidrSize(subnet) - 1);
      if (!cidrContains(subnet, gateway) || gateway === subnet.network || gateway === last) {
        throw new InvalidArgumentError(`gateway: ${options.gateway} is not a host address of ${formatCidr(subnet)}`);
      }
    }

    const info: NetworkInfo = {
      id: randomBytes(32).toString('hex'),
      name,
      driver: 'bridge',
      bridge,
      subnet: formatCidr(subnet),
      gateway: formatIpv4(gateway),
      ...extraAddressing(options, formatCidr(subnet), others),
      internal: options.internal ?? false,
      labels: { ...(options.labels ?? {}) },
      created: new Date().toISOString(),
    };
    // Record first: a crash after the bridge exists still lets removeNetwork find it.
    await this.records.put(this.key(name), info);
    let created = false;
    try {
      ({ created } = await ensureBridge(bridge, info.gateway, subnet.prefixLen, bridgeV6(info)));
      await installNetworkRules(bridge, info.subnet, info.internal);
      await reserveAuxiliary(join(this.stateDir, 'ipam'), info);
    } catch (e) {
      // a bridge that was there before (another daemon's, maybe) and its rules are not ours to delete
      if (created) {
        await deleteLink(bridge).catch(() => undefined);
        await deleteRules('filter', (r) => mentionsInterface(r.spec, bridge)).catch(() => undefined);
        await deleteRules('nat', (r) => mentionsInterface(r.spec, bridge)).catch(() => undefined);
      }
      await this.records.delete(this.key(name));
      throw e;
    }
    return info;
  }

  /** Deletes a network with its bridge and leftover rules; refused while containers are attached. */
  async removeLocked(name: string, users: NetworkUser[]): Promise<void> {
    const net = await this.get(name);
    if (!net) throw new NotFoundError(`network ${name} not found`);
    const on = users.filter((a) => a.networks.some((n) => n.network === name));
    if (on.length > 0) {
      throw new ConflictError(
        `error while removing network: network ${name} id ${net.id} has active endpoints (${on.map((u) => u.containerId).join(', ')})`,
      );
    }
    await deleteLink(net.bridge);
    const subnet = parseCidr(net.subnet);
    await deleteRules('nat', (r) => (r.spec.includes(`name: \\"${networkKey(name)}\\"`) && ruleAddressIn(r.spec, subnet)) || mentionsInterface(r.spec, net.bridge));
    await deleteRules('filter', (r) => mentionsInterface(r.spec, net.bridge) || (r.chain === 'CNI-FORWARD' && ruleAddressIn(r.spec, subnet)));
    await pruneSharedChains();
    await pruneBerthChains();
    await rm(ipamDir(join(this.stateDir, 'ipam'), name), { recursive: true, force: true });
    await this.records.delete(this.key(name));
  }

  async inspect(name: string, users: NetworkUser[]): Promise<NetworkDetails> {
    const net = await this.get(name);
    if (!net) throw new NotFoundError(`network ${name} not found`);
    const containers: NetworkDetails['containers'] = [];
    for (const a of users) {
      for (const n of a.networks) {
        if (n.network === name && n.iface) {
          containers.push({
            containerId: a.containerId,
            ifname: n.ifname,
            ip: n.iface.ip,
            prefixLen: n.iface.prefixLen,
            ...(n.iface.ip6 ? { ip6: n.iface.ip6, prefixLen6: n.iface.prefixLen6 ?? 64 } : {}),
            mac: n.iface.mac,
            aliases: n.aliases,
            ...(a.hostname ? { hostname: a.hostname } : {}),
          });
        }
      }
    }
    return { ...net, containers };
  }

  /**
   * After a reboot (or a crash inside createNetwork) a recorded network may lack its
   * bridge: bring it back so its subnet is claimed in the host's routes again.
   */
  async restoreBridges(): Promise<void> {
    for (const net of await this.records.values()) {
      if (!(await linkExists(net.bridge))) await ensureBridge(net.bridge, net.gateway, parseCidr(net.subnet).prefixLen, bridgeV6(net)).catch(() => undefined);
      await installNetworkRules(net.bridge, net.subnet, net.internal).catch(() => undefined);
    }
  }
}

function mentionsInterface(spec: string, dev: string): boolean {
  return new RegExp(`(^| )-[io] ${dev.replace(/\./g, '\\.')}( |$)`).test(spec);
}

/** True when a `-s`/`-d` address of the rule lies inside `subnet`. */
function ruleAddressIn(spec: string, subnet: Ipv4Cidr): boolean {
  for (const m of spec.matchAll(/(?:^| )-[sd] (\d+\.\d+\.\d+\.\d+)(?:\/\d+)?/g)) {
    if (m[1] && cidrContains(subnet, parseIpv4(m[1]))) return true;
  }
  return false;
}
