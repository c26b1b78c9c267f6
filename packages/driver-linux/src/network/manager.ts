import { randomBytes } from 'node:crypto';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { BerthError, ConflictError, InvalidArgumentError, NotFoundError } from '@berth/image-format';
import type { NetworkDriver } from '@berth/runtime';
import { CniExecutor, type CniResult, type PluginCall, type PluginConfig } from './cni.js';
import { deleteLink, ensureBridge, linkExists, listHostRoutes, pinBridgeMac } from './host-links.js';
import { deleteRules, installNetworkRules, listForwardedPorts, pruneBerthChains, pruneSharedChains } from './iptables.js';
import { cidrContains, cidrSize, cidrsOverlap, formatCidr, formatIpv4, nthAddress, parseCidr, parseIpv4, subnetsOf, type Ipv4Cidr } from './ipv4.js';
import { Mutex } from './mutex.js';
import { releaseHostLocalLeases } from './ipam-lease.js';
import { createNetns, isNetnsMounted, removeNetns } from './netns.js';
import { describePort, ephemeralHostPort, normalizePorts, portAllocatedError, portsClash, tryBindHostPort, type PublishedPort } from './ports.js';
import { JsonRecordDir } from './state-store.js';
import { bridgeV6, checkFixedAddresses, endpointRecord, interfaceOf, type NetworkAttachmentRecord, type PluginStep } from './endpoint-records.js';
import { extraAddressing, hostLocalRanges, ipamDir, networkKey, reserveAuxiliary } from './ipam-config.js';
import { parseCidr6 } from './ipv6.js';
import { EmbeddedDns } from './dns/server.js';
import { ContainerNames, type NamedContainer } from './dns/names.js';
import { addHostsEntry, removeHostsEntries, retargetResolvConf } from '../host-files.js';
import type {
  AttachedInterface,
  AttachOptions,
  AttachResult,
  CniNetworkManagerOptions,
  ConnectOptions,
  CreateNetworkOptions,
  EndpointOptions,
  NetworkDetails,
  NetworkInfo,
  NetworkMode,
} from './types.js';

interface AttachmentRecord {
  containerId: string;
  mode: NetworkMode;
  netnsPath?: string;
  hostname?: string;
  /** The directory of the container's bind-mounted `hosts` file, rewritten by connect/disconnect. */
  hostFilesDir?: string;
  ports: PublishedPort[];
  /** `attaching` until every ADD succeeded; either way detach undoes whatever is recorded. */
  phase: 'attaching' | 'attached';
  networks: NetworkAttachmentRecord[];
}

const BRIDGE_RE = /^[a-zA-Z0-9_.-]{1,15}$/;
const CONTAINER_ID_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;
const RESERVED_NETWORK_NAMES = new Set(['host', 'none']);

/**
 * Container networking through the CNI reference plugins (bridge + host-local IPAM,
 * portmap) and iptables rules installed per network.
 *
 * Contract:
 * - Networks are Linux bridges with an IPv4 subnet that overlaps neither a host route nor
 *   another network of this manager. Their bridge is created (with the gateway address)
 *   by createNetwork and deleted by removeNetwork, never in between.
 * - attach() pins a named netns per container at `<netnsDir>/<containerId>` and returns
 *   its path for the runtime to join. It checks published ports before touching
 *   anything. A failed attach is rolled back.
 * - detach() undoes an attach from the persisted record (so it works after a crash),
 *   cleans the iptables chains the plugins leave behind, and is idempotent.
 * - One manager per stateDir (the daemon's lock guarantees it).
 */
export class CniNetworkManager implements NetworkDriver {
  readonly stateDir: string;
  readonly netnsDir: string;
  readonly pluginDirs: string[];
  readonly defaultNetworkName: string;
  private readonly defaultNetwork: { name: string; bridge: string; subnet: string; gateway?: string };
  private readonly pool: { base: Ipv4Cidr; prefixLen: number };
  private readonly networks: JsonRecordDir<NetworkInfo>;
  private readonly attachments: JsonRecordDir<AttachmentRecord>;
  private readonly cni: CniExecutor;
  private readonly lock = new Mutex();
  private readonly dns: EmbeddedDns | undefined;
  /** dnsUpdate from attach, connect and detach in any order: one listener set change at a time. */
  private readonly dnsLock = new Mutex();
  /** Attached containers with a user network, in memory for the DNS server (loaded by restoreDns). */
  private readonly dnsNames: ContainerNames | undefined;
  /** Bridges whose MAC this manager has checked (once each: the run path stays free of it). */
  private readonly pinnedBridges = new Set<string>();
  /** Containers whose detach runs: connect and disconnect leave them alone. */
  private readonly detaching = new Set<string>();

  constructor(options: CniNetworkManagerOptions) {
    this.stateDir = options.stateDir;
    this.netnsDir = options.netnsDir ?? '/run/berth/netns';
    this.pluginDirs = options.pluginDirs ?? ['/usr/lib/cni', '/opt/cni/bin'];
    this.defaultNetwork = {
      name: options.defaultNetwork?.name ?? 'berth',
      bridge: options.defaultNetwork?.bridge ?? 'berth0',
      subnet: options.defaultNetwork?.subnet ?? '10.90.0.0/24',
      ...(options.defaultNetwork?.gateway ? { gateway: options.defaultNetwork.gateway } : {}),
    };
    this.defaultNetworkName = this.defaultNetwork.name;
    const poolText = options.subnetPool ?? { base: '10.90.0.0/16', prefixLen: 24 };
    this.pool = { base: parseCidr(poolText.base, 'subnetPool.base'), prefixLen: poolText.prefixLen };
    if (!Number.isInteger(this.pool.prefixLen) || this.pool.prefixLen < this.pool.base.prefixLen || this.pool.prefixLen > 30) {
      throw new InvalidArgumentError('subnetPool.prefixLen: must be between the base prefix and 30');
    }
    this.networks = new JsonRecordDir(join(this.stateDir, 'networks'));
    // every attach lists all attachments (ports, addresses): kept in memory, this manager
    // being its state dir's only writer (one per daemon root)
    this.attachments = new JsonRecordDir(join(this.stateDir, 'attachments'), { cached: true });
    this.cni = new CniExecutor(this.pluginDirs);
    if (options.dns !== false) {
      const dns = options.dns ?? {};
      this.dnsNames = new ContainerNames(dns.containerNames);
      this.dns = new EmbeddedDns({
        names: this.dnsNames,
        ...(dns.upstreams ? { upstreams: dns.upstreams } : {}),
        ...(dns.forwardTimeoutMs !== undefined ? { forwardTimeoutMs: dns.forwardTimeoutMs } : {}),
      });
    }
  }

  // ---------------------------------------------------------------- networks

  /** Creates a bridge network; refuses a taken name or bridge, or an overlapping subnet. */
  createNetwork(options: CreateNetworkOptions): Promise<NetworkInfo> {
    return this.lock.run(() => this.createNetworkLocked(options));
  }

  /** Creates the default network from the constructor options unless it exists. */
  ensureDefaultNetwork(): Promise<NetworkInfo> {
    return this.lock.run(() => this.ensureDefaultLocked());
  }

  /** Deletes a network with its bridge and leftover rules; refused while containers are attached. */
  removeNetwork(name: string): Promise<void> {
    return this.lock.run(async () => {
      const net = await this.networks.get(this.key(name));
      if (!net) throw new NotFoundError(`network ${name} not found`);
      const users = (await this.attachments.values()).filter((a) => a.networks.some((n) => n.network === name));
      if (users.length > 0) {
        throw new ConflictError(
          `error while removing network: network ${name} id ${net.id} has active endpoints (${users.map((u) => u.containerId).join(', ')})`,
        );
      }
      await deleteLink(net.bridge);
      const subnet = parseCidr(net.subnet);
      await deleteRules('nat', (r) => (r.spec.includes(`name: \\"${networkKey(name)}\\"`) && ruleAddressIn(r.spec, subnet)) || mentionsInterface(r.spec, net.bridge));
      await deleteRules('filter', (r) => mentionsInterface(r.spec, net.bridge) || (r.chain === 'CNI-FORWARD' && ruleAddressIn(r.spec, subnet)));
      await pruneSharedChains();
      await pruneBerthChains();
      await rm(ipamDir(join(this.stateDir, 'ipam'), name), { recursive: true, force: true });
      await this.networks.delete(this.key(name));
    });
  }

  async listNetworks(): Promise<NetworkInfo[]> {
    return this.networks.values();
  }

  async inspectNetwork(name: string): Promise<NetworkDetails> {
    const net = await this.networks.get(this.key(name));
    if (!net) throw new NotFoundError(`network ${name} not found`);
    const containers: NetworkDetails['containers'] = [];
    for (const a of await this.attachments.values()) {
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

  /** Any name Docker takes (spaces, slashes...) maps to a safe file and CNI key. */
  private key(name: string): string {
    if (!name || name.length > 1024 || name.includes('\0')) throw new InvalidArgumentError(`invalid network name ${JSON.stringify(name)}`);
    return networkKey(name);
  }

  private async ensureDefaultLocked(): Promise<NetworkInfo> {
    const existing = await this.networks.get(this.key(this.defaultNetwork.name));
    if (existing) return existing;
    return this.createNetworkLocked({ ...this.defaultNetwork }, true);
  }

  private async createNetworkLocked(options: CreateNetworkOptions, isDefault = false): Promise<NetworkInfo> {
    const name = options.name;
    if (RESERVED_NETWORK_NAMES.has(name)) throw new InvalidArgumentError(`network name ${name} is reserved`);
    if (await this.networks.get(this.key(name))) throw new ConflictError(`network with name ${name} already exists`);
    const others = await this.networks.values();

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
    await this.networks.put(this.key(name), info);
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
      await this.networks.delete(this.key(name));
      throw e;
    }
    return info;
  }

  // ---------------------------------------------------------------- containers

  /**
   * Gives a container its network: `host` returns no namespace; `none` a namespace with
   * loopback only; `bridge` joins the named networks (default network when none) and
   * publishes the ports. A port in use fails with ConflictError before anything changes.
   */
  async attach(containerId: string, options: AttachOptions): Promise<AttachResult> {
    if (!CONTAINER_ID_RE.test(containerId)) throw new InvalidArgumentError(`invalid container id ${JSON.stringify(containerId)}`);
    if (options.mode === 'host') return { interfaces: [], ports: [] };
    if (options.mode !== 'none' && options.mode !== 'bridge') throw new InvalidArgumentError(`unknown network mode ${String(options.mode)}`);

    const record = await this.lock.run(() => this.reserve(containerId, options));
    try {
      return await this.plumb(record, options.onNamespace);
    } catch (e) {
      await this.detach(containerId).catch(() => undefined);
      throw e;
    }
  }

  /** Validates and records the attachment (ports reserved) under the lock; touches nothing on the host. */
  private async reserve(containerId: string, options: AttachOptions): Promise<AttachmentRecord> {
    if (await this.attachments.get(containerId)) throw new ConflictError(`container ${containerId} is already attached to a network`);
    const record: AttachmentRecord = {
      containerId,
      mode: options.mode,
      netnsPath: join(this.netnsDir, containerId),
      ports: [],
      phase: 'attaching',
      networks: [],
      ...(options.hostname ? { hostname: options.hostname } : {}),
      ...(options.hostFilesDir ? { hostFilesDir: options.hostFilesDir } : {}),
    };
    if (options.mode === 'bridge') {
      const wanted = options.networks && options.networks.length > 0 ? options.networks : [{ name: this.defaultNetwork.name }];
      const seen = new Set<string>();
      const nets: { info: NetworkInfo; w: (typeof wanted)[number] }[] = [];
      const existing = await this.attachments.values();
      for (const w of wanted) {
        if (seen.has(w.name)) throw new InvalidArgumentError(`network ${w.name} named twice`);
        seen.add(w.name);
        const info = w.name === this.defaultNetwork.name ? await this.ensureDefaultLocked() : await this.networks.get(this.key(w.name));
        if (!info) throw new NotFoundError(`network ${w.name} not found`);
        await this.pinBridgeOnce(info);
        checkFixedAddresses(info, w, existing);
        nets.push({ info, w });
      }
      const publishOn = nets.findIndex((n) => !n.info.internal);
      const ports = publishOn >= 0 ? await this.allocatePorts(normalizePorts(options.ports ?? [])) : [];
      record.ports = ports;
      record.networks = nets.map((n, i) => endpointRecord(n.info, `eth${i}`, n.w, this.pluginChain(n.info, i === 0, i === publishOn ? ports : [], n.w)));
    }
    await this.attachments.put(containerId, record);
    return record;
  }

  /** Bridges made before their MAC was fixed get it at their first use (see ensureBridge). */
  private async pinBridgeOnce(net: NetworkInfo): Promise<void> {
    if (this.pinnedBridges.has(net.bridge)) return;
    this.pinnedBridges.add(net.bridge);
    await pinBridgeMac(net.bridge, net.gateway).catch(() => undefined);
  }

  /** Checks fixed host ports and picks free ones for host port 0; nothing is bound afterwards. */
  private async allocatePorts(ports: PublishedPort[]): Promise<PublishedPort[]> {
    if (ports.length === 0) return [];
    ports.forEach((p, i) => {
      const dup = p.hostPort !== 0 && ports.slice(0, i).find((q) => portsClash(p, q));
      if (dup) throw new InvalidArgumentError(`host port ${describePort(p)} is published twice`);
    });
    const recorded = (await this.attachments.values()).flatMap((a) => a.ports.map((p) => ({ ...p, owner: a.containerId })));
    const forwarded = await listForwardedPorts();
    const out: (PublishedPort | undefined)[] = ports.map(() => undefined);
    for (const [i, p] of ports.entries()) {
      if (p.hostPort === 0) continue;
      const mine = recorded.find((q) => portsClash(p, q));
      if (mine) throw portAllocatedError(p, `published by container ${mine.owner}`);
      if (forwarded.some((q) => portsClash(p, q))) throw portAllocatedError(p, 'forwarded by another CNI user on this host');
      const err = await tryBindHostPort(p);
      if (err === 'EADDRINUSE' || err === 'EACCES') throw portAllocatedError(p, 'a host process is bound to it');
      if (err === 'EADDRNOTAVAIL') throw new InvalidArgumentError(`host address ${p.hostIp} is not an address of this host`);
      if (err) throw new BerthError('Internal', `cannot check host port ${describePort(p)}: ${err}`);
      out[i] = p;
    }
    for (const [i, p] of ports.entries()) {
      if (p.hostPort !== 0) continue;
      for (let attempt = 0; attempt < 20 && !out[i]; attempt++) {
        const candidate = { ...p, hostPort: await ephemeralHostPort(p) };
        const assigned = out.filter((q): q is PublishedPort => q !== undefined);
        if (![...recorded, ...forwarded, ...assigned].some((q) => portsClash(candidate, q))) out[i] = candidate;
      }
      if (!out[i]) throw new ConflictError(`no free host port found for ${describePort(p)}`);
    }
    return out as PublishedPort[];
  }

  private pluginChain(net: NetworkInfo, primary: boolean, ports: PublishedPort[], ep: EndpointOptions): PluginStep[] {
    // Only the first network gets the default route; a second one would clash (EEXIST).
    const routes = !net.internal && primary ? [{ dst: '0.0.0.0/0' }, ...(net.subnet6 ? [{ dst: '::/0' }] : [])] : [];
    const fixed = [
      ...(ep.ipv4Address ? [`${ep.ipv4Address}/${parseCidr(net.subnet).prefixLen}`] : []),
      ...(ep.ipv6Address && net.subnet6 ? [`${ep.ipv6Address}/${parseCidr6(net.subnet6).prefixLen}`] : []),
    ];
    // host-local honours runtimeConfig.ips (the `ips` capability), bridge runtimeConfig.mac.
    const runtimeConfig = { ...(fixed.length > 0 ? { ips: fixed } : {}), ...(ep.mac ? { mac: ep.mac } : {}) };
    const steps: PluginStep[] = [
      {
        config: {
          type: 'bridge',
          bridge: net.bridge,
          isGateway: true,
          // Masquerading is one rule per network (installNetworkRules), not a chain per container.
          ipMasq: false,
          hairpinMode: true,
          ipam: {
            type: 'host-local',
            ranges: hostLocalRanges(net, fixed.length > 0),
            routes,
            dataDir: join(this.stateDir, 'ipam'),
          },
        },
        ...(Object.keys(runtimeConfig).length > 0 ? { runtimeConfig } : {}),
      },
    ];
    if (ports.length > 0) {
      steps.push({
        config: { type: 'portmap', capabilities: { portMappings: true }, snat: true },
        runtimeConfig: {
          portMappings: ports.map((p) => ({ hostPort: p.hostPort, containerPort: p.containerPort, protocol: p.protocol, hostIP: p.hostIp })),
        },
      });
    }
    // No firewall plugin: BERTH-FORWARD accepts a network's traffic (installNetworkRules).
    return steps;
  }

  private async plumb(record: AttachmentRecord, onNamespace?: (netnsPath: string) => void): Promise<AttachResult> {
    const netnsPath = record.netnsPath as string;
    // Loopback comes up inside the unshare that creates the namespace: one process, no plugin.
    await createNetns(netnsPath, { loopbackUp: true });
    onNamespace?.(netnsPath);
    const interfaces: AttachedInterface[] = [];
    for (const n of record.networks) {
      for (const step of n.steps) {
        n.result = await this.addWithRetry(record.containerId, netnsPath, n, step);
        // Persist each step: after a crash, DEL gets the freshest prevResult.
        await this.attachments.put(record.containerId, record);
      }
      const iface = interfaceOf(n.network, n.ifname, n.result);
      n.iface = iface;
      interfaces.push(iface);
    }
    record.phase = 'attached';
    await this.attachments.put(record.containerId, record);
    const result: AttachResult = { netnsPath, interfaces, ports: record.ports };
    // The default network has no name resolution (as Docker's default bridge): nothing to do on that path.
    if (this.dns && this.onUserNetwork(record)) {
      const first = record.networks.find((n) => n.network !== this.defaultNetwork.name);
      if (first?.iface?.gateway) result.nameservers = [first.iface.gateway];
      await this.dnsUpdate(record.containerId, record);
    }
    return result;
  }

  /** CNI DEL of one plugin step with the recorded prevResult; the failure's text, if any. */
  private async cniDel(containerId: string, netns: string, n: NetworkAttachmentRecord, step: PluginStep): Promise<string | undefined> {
    try {
      await this.cni.exec(pluginCall('DEL', containerId, netns, n, step));
      return undefined;
    } catch (e) {
      return (e as Error).message;
    }
  }

  /** portmap/firewall may race other CNI users creating the shared chains: bounded retry. */
  private async addWithRetry(containerId: string, netns: string, n: NetworkAttachmentRecord, step: PluginStep): Promise<CniResult> {
    const attempts = step.config.type === 'bridge' ? 1 : 3;
    for (let i = 1; ; i++) {
      try {
        const result = await this.cni.exec(pluginCall('ADD', containerId, netns, n, step));
        if (!result) throw new BerthError('Internal', `CNI ${step.config.type} ADD returned no result`);
        return result;
      } catch (e) {
        if (i >= attempts) throw e;
        await new Promise((r) => setTimeout(r, 100 * i));
      }
    }
  }

  /**
   * Undoes attach: CNI DEL in reverse order with the recorded prevResults, iptables
   * leftovers, the netns. Idempotent; an unknown container only loses a stray netns.
   */
  async detach(containerId: string): Promise<void> {
    if (!CONTAINER_ID_RE.test(containerId)) throw new InvalidArgumentError(`invalid container id ${JSON.stringify(containerId)}`);
    // Read under the lock, and marked: a connect/disconnect in flight finishes first, a later one is refused.
    const record = await this.lock.run(async () => {
      this.detaching.add(containerId);
      return this.attachments.get(containerId);
    });
    try {
      await this.detachRecord(containerId, record);
    } finally {
      this.detaching.delete(containerId);
    }
  }

  private async detachRecord(containerId: string, record: AttachmentRecord | undefined): Promise<void> {
    const netnsPath = record?.netnsPath ?? join(this.netnsDir, containerId);
    const failures: string[] = [];
    if (record) {
      const live = await isNetnsMounted(netnsPath);
      const del = async (n: NetworkAttachmentRecord, step: PluginStep, netns: string) => {
        // firewall (records of earlier versions) reads the IPs from prevResult; without one its ADD never ran.
        if (step.config.type === 'firewall' && !n.result) return;
        const failed = await this.cniDel(containerId, netns, n, step);
        if (failed) failures.push(failed);
      };
      const reversed = [...record.networks].reverse();
      // Two independent lanes, side by side: the iptables plugins (portmap; firewall in
      // old records) with the leftover cleanup, and the links. Within a lane, reverse
      // order as libcni does.
      const iptablesLane = async () => {
        // portmap DEL is not run: it only deletes the rules tagged with this container's
        // id and the CNI-DN-* chain they jump to (v1.1: unforwardPorts), one iptables call
        // at a time (~110 ms); deleteRules below does the same in one transaction.
        for (const n of reversed) for (const step of [...n.steps].reverse()) if (step.config.type === 'firewall') await del(n, step, live ? netnsPath : '');
        // What the plugins leave: bridge's masquerade chain when the netns was already
        // gone (old records with ipMasq), portmap's per-container chains, firewall's rules.
        // A plain bridge step (no published port) leaves nothing: no iptables pass at all.
        if (!record.networks.some((n) => n.steps.some(leavesIptablesRules))) return;
        const ips = record.networks.flatMap((n) => (n.result?.ips ?? []).map((ip) => ip.address.split('/')[0] ?? ''));
        try {
          // The shared chains stay while another container of ours still needs them.
          const others = (await this.attachments.values()).filter((a) => a.containerId !== containerId);
          const lastUser = !others.some((a) => a.networks.some((n) => n.steps.some(leavesIptablesRules)));
          // One transaction: this container's rules, and portmap's shared chains if they end up empty.
          await deleteRules('nat', (r) => r.spec.includes(`id: \\"${containerId}\\"`), { pruneHostport: lastUser });
          if (record.networks.some((n) => n.steps.some((st) => st.config.type === 'firewall'))) {
            await deleteRules('filter', (r) => r.chain === 'CNI-FORWARD' && ips.some((ip) => ip && new RegExp(`(^| )-[sd] ${ip.replace(/\./g, '\\.')}/32( |$)`).test(r.spec)));
            if (lastUser) await pruneSharedChains({ nat: false });
          }
        } catch (e) {
          failures.push((e as Error).message);
        }
      };
      // The namespace goes first: the kernel then destroys its veths (the host ends
      // leave their bridge with them) in its own netns cleanup, off this path, where
      // bridge DEL inside a live namespace waited ~35 ms per veth in `ip link del`. The
      // bridge DEL that follows, with no netns (as after a reboot), releases the lease.
      // (A process still in the namespace, e.g. `--network container:`, keeps it.)
      const linkLane = async () => {
        await removeNetns(netnsPath);
        for (const n of reversed) {
          for (const step of [...n.steps].reverse()) {
            if (step.config.type !== 'bridge') continue;
            // What bridge DEL (without ipMasq) still had to do: release the host-local lease.
            const ipam = step.config.ipam as { type?: string; dataDir?: string } | undefined;
            const addresses = (n.result?.ips ?? []).map((ip) => ip.address);
            if (step.config.ipMasq !== true && ipam?.type === 'host-local' && ipam.dataDir && (await releaseHostLocalLeases(ipam.dataDir, networkKey(n.network), addresses, containerId, n.ifname).catch(() => false))) continue;
            await del(n, step, '');
          }
        }
      };
      const lanes = await Promise.allSettled([iptablesLane(), linkLane()]);
      const netnsFailure = lanes[1].status === 'rejected' ? lanes[1].reason : undefined;
      if (netnsFailure) throw netnsFailure;
    } else {
      await removeNetns(netnsPath);
    }
    await this.lock.run(() => this.attachments.delete(containerId));
    if (this.dnsNames?.has(containerId)) await this.dnsUpdate(containerId, undefined);
    if (failures.length > 0 && record?.phase === 'attached') {
      // Everything is cleaned as far as possible and the record is gone; say what failed.
      throw new BerthError('Internal', `network cleanup of ${containerId} was incomplete: ${failures.join('; ')}`);
    }
  }

  /**
   * Joins an attached (bridge mode) container to one more network while it runs: CNI ADD
   * of that network only, on the next free ethN. The first network of a container that
   * has none gets the default route. Its hosts file gains the address.
   */
  connect(containerId: string, options: ConnectOptions): Promise<AttachedInterface> {
    if (!CONTAINER_ID_RE.test(containerId)) throw new InvalidArgumentError(`invalid container id ${JSON.stringify(containerId)}`);
    return this.lock.run(async () => {
      const record = this.detaching.has(containerId) ? undefined : await this.attachments.get(containerId);
      if (!record || record.phase !== 'attached' || !record.netnsPath) throw new NotFoundError(`container ${containerId} has no network attachment`);
      if (record.mode !== 'bridge') throw new ConflictError(`container ${containerId} has network mode ${record.mode} and cannot join a network`);
      if (!(await isNetnsMounted(record.netnsPath))) throw new ConflictError(`the network namespace of container ${containerId} is gone`);
      const info = options.name === this.defaultNetwork.name ? await this.ensureDefaultLocked() : await this.networks.get(this.key(options.name));
      if (!info) throw new NotFoundError(`network ${options.name} not found`);
      await this.pinBridgeOnce(info);
      if (record.networks.some((n) => n.network === info.name)) throw new ConflictError(`container ${containerId} is already connected to network ${info.name}`);
      checkFixedAddresses(info, options, await this.attachments.values());
      const used = new Set(record.networks.map((n) => n.ifname));
      let k = 0;
      while (used.has(`eth${k}`)) k++;
      const n = endpointRecord(info, `eth${k}`, options, this.pluginChain(info, record.networks.length === 0, [], options));
      record.networks.push(n);
      // Recorded before the ADD: a crash in between leaves a record detach can undo.
      await this.attachments.put(containerId, record);
      try {
        for (const step of n.steps) n.result = await this.addWithRetry(containerId, record.netnsPath, n, step);
        n.iface = interfaceOf(n.network, n.ifname, n.result);
      } catch (e) {
        await this.removeFromNetns(record, n).catch(() => undefined);
        record.networks = record.networks.filter((x) => x !== n);
        await this.attachments.put(containerId, record);
        throw e;
      }
      await this.attachments.put(containerId, record);
      if (record.hostFilesDir) {
        await addHostsEntry(join(record.hostFilesDir, 'hosts'), n.iface.ip, record.hostname ? [record.hostname] : []).catch(() => undefined);
        // The first user network of a container brings the embedded DNS into its resolv.conf.
        const users = record.networks.filter((x) => x.network !== this.defaultNetwork.name);
        if (this.dns && n.network !== this.defaultNetwork.name && users.length === 1) {
          await retargetResolvConf(join(record.hostFilesDir, 'resolv.conf'), [], n.iface.gateway).catch(() => undefined);
        }
      }
      if (this.dns) await this.dnsUpdate(containerId, record);
      return n.iface;
    });
  }

  /**
   * Takes an attached container off one network while it runs: CNI DEL of that network
   * only (its interface leaves the namespace, its address lease is released). Without a
   * network left the container keeps a namespace with loopback only, as in Docker.
   */
  disconnect(containerId: string, network: string): Promise<void> {
    if (!CONTAINER_ID_RE.test(containerId)) throw new InvalidArgumentError(`invalid container id ${JSON.stringify(containerId)}`);
    return this.lock.run(async () => {
      const record = this.detaching.has(containerId) ? undefined : await this.attachments.get(containerId);
      const n = record?.networks.find((x) => x.network === network);
      if (!record || !n) throw new NotFoundError(`container ${containerId} is not connected to network ${network}`);
      await this.removeFromNetns(record, n);
      record.networks = record.networks.filter((x) => x !== n);
      if (n.steps.some((st) => st.config.type === 'portmap')) record.ports = [];
      await this.attachments.put(containerId, record);
      if (record.hostFilesDir && n.iface) {
        await removeHostsEntries(join(record.hostFilesDir, 'hosts'), n.iface.ip).catch(() => undefined);
        // Its gateway no longer serves this container: the next user network's does, else the host's nameservers.
        if (this.dns && n.network !== this.defaultNetwork.name) {
          const next = record.networks.find((x) => x.network !== this.defaultNetwork.name)?.iface?.gateway;
          await retargetResolvConf(join(record.hostFilesDir, 'resolv.conf'), [n.iface.gateway], next).catch(() => undefined);
        }
      }
      if (this.dnsNames?.has(containerId)) await this.dnsUpdate(containerId, record);
    });
  }

  /** CNI DEL of one network of a container whose namespace may still live (the veth goes with it). */
  private async removeFromNetns(record: AttachmentRecord, n: NetworkAttachmentRecord): Promise<void> {
    const live = record.netnsPath ? await isNetnsMounted(record.netnsPath) : false;
    const failures: string[] = [];
    for (const step of [...n.steps].reverse()) {
      if (step.config.type === 'portmap') {
        // As in detach: the container's rules in one transaction instead of portmap DEL.
        const others = (await this.attachments.values()).filter((a) => a.containerId !== record.containerId);
        const lastUser = !others.some((a) => a.networks.some((x) => x.steps.some(leavesIptablesRules)));
        await deleteRules('nat', (r) => r.spec.includes(`id: \\"${record.containerId}\\"`), { pruneHostport: lastUser }).catch((e: Error) => failures.push(e.message));
        continue;
      }
      const failed = await this.cniDel(record.containerId, live ? (record.netnsPath as string) : '', n, step);
      if (failed) failures.push(failed);
    }
    if (failures.length > 0) throw new BerthError('Internal', `cannot disconnect ${record.containerId} from network ${n.network}: ${failures.join('; ')}`);
  }

  // ---------------------------------------------------------------- DNS

  /**
   * Loads the recorded attachments into the DNS server and opens its listeners (after a
   * daemon restart: containers kept running). Cheap when there are none.
   */
  async restoreDns(): Promise<void> {
    if (!this.dns) return;
    for (const a of await this.attachments.values()) if (a.phase === 'attached') this.dnsNames?.set(await this.named(a));
    await this.dnsUpdate(undefined, undefined);
  }

  /** Who answers to which names besides aliases (EmbeddedDnsOptions.containerNames, set later). */
  setContainerNames(hook: (containerId: string) => string[] | undefined): void {
    this.dnsNames?.setNamesOf(hook);
  }

  /** Closes the DNS listeners (the daemon stops; containers keep running). */
  close(): void {
    this.dns?.close();
  }

  /** The addresses the DNS server listens on now (gateways of user networks with containers). */
  dnsListening(): string[] {
    return this.dns?.listening() ?? [];
  }

  private onUserNetwork(record: AttachmentRecord): boolean {
    return record.networks.some((n) => n.network !== this.defaultNetwork.name);
  }

  /** Records (or forgets) one container's attachment and reopens the listeners to match. */
  private dnsUpdate(containerId: string | undefined, record: AttachmentRecord | undefined): Promise<void> {
    return this.dnsLock.run(() => this.dnsUpdateLocked(containerId, record));
  }

  private async dnsUpdateLocked(containerId: string | undefined, record: AttachmentRecord | undefined): Promise<void> {
    if (!this.dns || !this.dnsNames) return;
    if (containerId) this.dnsNames.set(record ? await this.named(record) : { containerId, endpoints: [] });
    const gateways = new Map<string, string>();
    for (const name of this.dnsNames.networks()) {
      const info = await this.networks.get(networkKey(name)).catch(() => undefined);
      if (info) gateways.set(info.gateway, info.name);
    }
    this.dnsNames.setGateways(gateways);
    await this.dns.serve(gateways.keys());
  }

  /** A record as the DNS sees it: its plumbed user-network endpoints, and whether it can reach out at all. */
  private async named(record: AttachmentRecord): Promise<NamedContainer> {
    const endpoints = record.networks.flatMap((n) =>
      n.network !== this.defaultNetwork.name && n.iface ? [{ network: n.network, ip: n.iface.ip, aliases: n.aliases, ...(n.links?.length ? { links: n.links } : {}) }] : [],
    );
    let internalOnly = record.networks.length > 0;
    for (const n of record.networks) {
      if (n.network === this.defaultNetwork.name || !(await this.networks.get(networkKey(n.network)).catch(() => undefined))?.internal) internalOnly = false;
    }
    return { containerId: record.containerId, ...(record.hostname ? { hostname: record.hostname } : {}), endpoints, ...(internalOnly ? { internalOnly } : {}) };
  }

  /** The namespace recorded for a container (for `--network container:<id>`), if any. */
  async netnsPathOf(containerId: string): Promise<string | undefined> {
    if (!CONTAINER_ID_RE.test(containerId)) return undefined;
    return (await this.attachments.get(containerId))?.netnsPath;
  }

  /**
   * Startup recovery: recreates missing bridges of recorded networks, detaches every
   * recorded container not in `liveContainerIds` and removes namespaces in netnsDir that
   * no record owns. Returns the container ids it cleaned.
   */
  async sweep(liveContainerIds: Iterable<string>): Promise<string[]> {
    const live = new Set(liveContainerIds);
    const cleaned: string[] = [];
    // After a reboot (or a crash inside createNetwork) a recorded network may lack its
    // bridge: bring it back so its subnet is claimed in the host's routes again.
    for (const net of await this.networks.values()) {
      if (!(await linkExists(net.bridge))) await ensureBridge(net.bridge, net.gateway, parseCidr(net.subnet).prefixLen, bridgeV6(net)).catch(() => undefined);
      await installNetworkRules(net.bridge, net.subnet, net.internal).catch(() => undefined);
    }
    for (const id of await this.attachments.keys()) {
      if (live.has(id)) continue;
      await this.detach(id).catch(() => undefined);
      cleaned.push(id);
    }
    let files: string[] = [];
    try {
      files = await readdir(this.netnsDir);
    } catch {
      files = [];
    }
    const recorded = new Set(await this.attachments.keys());
    for (const f of files) {
      if (live.has(f) || recorded.has(f) || !CONTAINER_ID_RE.test(f)) continue;
      await removeNetns(join(this.netnsDir, f)).catch(() => undefined);
      if (!cleaned.includes(f)) cleaned.push(f);
    }
    await this.restoreDns();
    return cleaned;
  }
}

/** portmap, firewall and bridge with ipMasq (records of earlier versions) leave chains to clean. */
function leavesIptablesRules(step: PluginStep): boolean {
  return step.config.type !== 'bridge' || step.config.ipMasq === true;
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

/** One plugin step of a network attachment as a CNI call, with the recorded prevResult. */
function pluginCall(command: 'ADD' | 'DEL', containerId: string, netns: string, n: NetworkAttachmentRecord, step: PluginStep): PluginCall {
  return {
    command,
    containerId,
    netns,
    ifname: n.ifname,
    networkName: networkKey(n.network),
    config: step.config,
    ...(step.runtimeConfig ? { runtimeConfig: step.runtimeConfig } : {}),
    ...(n.result ? { prevResult: n.result } : {}),
  };
}
