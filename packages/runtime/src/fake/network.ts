import { randomBytes } from 'node:crypto';
import { ConflictError, InvalidArgumentError, NotFoundError } from '@berth/image-format';
import type {
  ContainerNamesHook,
  DetachOptions,
  EndpointAttachment,
  EndpointInterface,
  EndpointOptions,
  NetworkCreateOptions,
  NetworkDetails,
  NetworkDriver,
  NetworkInfo,
  PublishedPort,
} from '../network.js';
import { allocatePorts } from '../port-allocation.js';

export interface FakeNetworkDriverOptions {
  /** Default `bridge` on 172.31.0.0/24. */
  defaultNetwork?: { name?: string; subnet?: string };
  /** Host ports handed out for host port 0, counting up. Default from 40000. */
  firstEphemeralPort?: number;
}

interface Endpoint extends EndpointInterface {
  aliases: string[];
}

interface Attachment {
  mode: EndpointOptions['mode'];
  hostname?: string;
  endpoints: Endpoint[];
  ports: PublishedPort[];
}

const ip2n = (ip: string): number => ip.split('.').reduce((a, o) => a * 256 + Number(o), 0);
const n2ip = (n: number): string => [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');

function parseCidr(cidr: string): { base: number; len: number } {
  const m = /^(\d+\.\d+\.\d+\.\d+)\/(\d+)$/.exec(cidr);
  const len = Number(m?.[2]);
  if (!m || len < 8 || len > 30 || m[1]!.split('.').some((o) => Number(o) > 255)) throw new InvalidArgumentError(`invalid subnet ${cidr}`);
  const size = 2 ** (32 - len);
  return { base: Math.floor(ip2n(m[1]!) / size) * size, len };
}

/**
 * An in-memory NetworkDriver for tests that need no root: networks, addresses, published
 * ports (nothing is bound on the host) and name resolution are bookkeeping only. It
 * passes the network conformance suite; `lookup` answers as the embedded DNS would.
 */
export class FakeNetworkDriver implements NetworkDriver {
  readonly defaultNetworkName: string;
  private readonly defaultSubnet: string;
  private readonly networks = new Map<string, NetworkInfo>();
  private readonly attachments = new Map<string, Attachment>();
  private names: ContainerNamesHook | undefined;
  /** What a deferred detach leaves for its background part (a real driver's namespace). */
  private readonly cleaning = new Map<string, Promise<void>>();
  private nextPort: number;
  private nextPool = 0;

  constructor(options: FakeNetworkDriverOptions = {}) {
    this.defaultNetworkName = options.defaultNetwork?.name ?? 'bridge';
    this.defaultSubnet = options.defaultNetwork?.subnet ?? '172.31.0.0/24';
    this.nextPort = options.firstEphemeralPort ?? 40000;
  }

  async createNetwork(options: NetworkCreateOptions): Promise<NetworkInfo> {
    if (this.networks.has(options.name)) throw new ConflictError(`network with name ${options.name} already exists`);
    let subnet = options.subnet;
    while (!subnet) {
      const candidate = `10.201.${this.nextPool++}.0/24`;
      if (!this.overlaps(parseCidr(candidate))) subnet = candidate;
    }
    const c = parseCidr(subnet);
    if (this.overlaps(c)) throw new ConflictError(`subnet ${subnet} overlaps with another network`);
    const info: NetworkInfo = {
      id: randomBytes(32).toString('hex'),
      name: options.name,
      subnet: `${n2ip(c.base)}/${c.len}`,
      gateway: options.gateway ?? n2ip(c.base + 1),
      internal: options.internal ?? false,
      labels: { ...(options.labels ?? {}) },
      created: new Date().toISOString(),
    };
    this.networks.set(info.name, info);
    return { ...info };
  }

  private overlaps(c: { base: number; len: number }): boolean {
    return [...this.networks.values()].some((n) => {
      const o = parseCidr(n.subnet);
      const size = 2 ** (32 - Math.min(o.len, c.len));
      return Math.floor(o.base / size) === Math.floor(c.base / size);
    });
  }

  async ensureDefaultNetwork(): Promise<NetworkInfo> {
    return { ...(this.networks.get(this.defaultNetworkName) ?? (await this.createNetwork({ name: this.defaultNetworkName, subnet: this.defaultSubnet }))) };
  }

  private network(name: string): NetworkInfo {
    const n = this.networks.get(name);
    if (!n) throw new NotFoundError(`network ${name} not found`);
    return n;
  }

  async removeNetwork(name: string): Promise<void> {
    const n = this.network(name);
    const users = [...this.attachments.entries()].filter(([, a]) => a.endpoints.some((e) => e.network === name));
    if (users.length > 0) throw new ConflictError(`error while removing network: network ${name} id ${n.id} has active endpoints`);
    this.networks.delete(name);
  }

  async listNetworks(): Promise<NetworkInfo[]> {
    return [...this.networks.values()].map((n) => ({ ...n }));
  }

  async inspectNetwork(name: string): Promise<NetworkDetails> {
    const n = this.network(name);
    const containers: NetworkDetails['containers'] = [];
    for (const [containerId, a] of this.attachments) {
      for (const e of a.endpoints) {
        if (e.network === name) containers.push({ containerId, ip: e.ip, prefixLen: e.prefixLen, mac: e.mac, aliases: [...e.aliases], ...(a.hostname ? { hostname: a.hostname } : {}) });
      }
    }
    return { ...n, containers };
  }

  private endpoint(net: NetworkInfo, aliases: string[] | undefined, fixed: string | undefined, taken: Set<string>): Endpoint {
    const c = parseCidr(net.subnet);
    const used = new Set([net.gateway, ...taken, ...[...this.attachments.values()].flatMap((a) => a.endpoints.filter((e) => e.network === net.name).map((e) => e.ip))]);
    let ip = fixed;
    if (ip !== undefined) {
      if (parseCidr(`${ip}/${c.len}`).base !== c.base) throw new InvalidArgumentError(`address ${ip} is not in network ${net.name}'s subnet ${net.subnet}`);
      if (used.has(ip)) throw new ConflictError(`address ${ip} on network ${net.name} is already in use`);
    } else {
      for (let k = c.base + 2; k < c.base + 2 ** (32 - c.len) - 1 && ip === undefined; k++) if (!used.has(n2ip(k))) ip = n2ip(k);
      if (ip === undefined) throw new ConflictError(`no address left in network ${net.name}`);
    }
    const mac = `02:42:${ip.split('.').map((o) => Number(o).toString(16).padStart(2, '0')).join(':')}`;
    return { network: net.name, ip, prefixLen: c.len, gateway: net.gateway, mac, aliases: [...(aliases ?? [])] };
  }

  /** The same allocator as every driver's; the fake host has every port free, and counts host port 0 up. */
  private publish(ports: EndpointOptions['ports'], owner: string): Promise<PublishedPort[]> {
    const published = [...this.attachments.entries()].filter(([id]) => id !== owner).map(([containerId, a]) => ({ containerId, ports: a.ports }));
    const wanted = (ports ?? []).map((m): PublishedPort => {
      const hostIp = !m.hostIp || m.hostIp === '0.0.0.0' || m.hostIp === '::' ? '' : m.hostIp;
      return { hostIp, hostPort: m.hostPort, containerPort: m.containerPort, protocol: m.protocol ?? 'tcp' };
    });
    return allocatePorts(wanted, published, { tryBind: async () => undefined, ephemeral: async () => this.nextPort++ });
  }

  private nameservers(a: Attachment): string[] | undefined {
    const user = a.endpoints.find((e) => e.network !== this.defaultNetworkName);
    return user ? [user.gateway] : undefined;
  }

  async attach(containerId: string, options: EndpointOptions): Promise<EndpointAttachment> {
    if (this.attachments.has(containerId)) throw new ConflictError(`container ${containerId} is already attached to a network`);
    const a: Attachment = { mode: options.mode, endpoints: [], ports: [], ...(options.hostname ? { hostname: options.hostname } : {}) };
    if (options.mode === 'bridge') {
      const wanted = options.networks?.length ? options.networks : [{ name: this.defaultNetworkName }];
      const taken = new Set<string>();
      for (const w of wanted) {
        const net = w.name === this.defaultNetworkName ? await this.ensureDefaultNetwork() : this.network(w.name);
        if (a.endpoints.some((e) => e.network === net.name)) throw new InvalidArgumentError(`network ${w.name} named twice`);
        const e = this.endpoint(net, w.aliases, w.ipv4Address, taken);
        taken.add(e.ip);
        a.endpoints.push(e);
      }
      if (a.endpoints.some((e) => !this.networks.get(e.network)?.internal)) a.ports = await this.publish(options.ports, containerId);
    }
    this.attachments.set(containerId, a);
    const ns = this.nameservers(a);
    return { interfaces: a.endpoints.map(({ aliases: _aliases, ...i }) => i), ports: a.ports.map((p) => ({ ...p })), ...(ns ? { nameservers: ns } : {}) };
  }

  async detach(containerId: string, options: DetachOptions = {}): Promise<void> {
    if (!this.attachments.delete(containerId) || !options.deferCleanup) return;
    const done = new Promise<void>((resolve) => setTimeout(resolve, 20)).finally(() => {
      if (this.cleaning.get(containerId) === done) this.cleaning.delete(containerId);
    });
    this.cleaning.set(containerId, done);
  }

  async cleanupsSettled(): Promise<void> {
    await Promise.all(this.cleaning.values());
  }

  /** True while the background part of a deferred detach of `containerId` runs. */
  cleaningUp(containerId: string): boolean {
    return this.cleaning.has(containerId);
  }

  async connect(containerId: string, options: { name: string; aliases?: string[]; ipv4Address?: string }): Promise<EndpointInterface> {
    const a = this.attachments.get(containerId);
    if (!a) throw new NotFoundError(`container ${containerId} has no network attachment`);
    if (a.mode !== 'bridge') throw new ConflictError(`container ${containerId} has network mode ${a.mode} and cannot join a network`);
    const net = options.name === this.defaultNetworkName ? await this.ensureDefaultNetwork() : this.network(options.name);
    if (a.endpoints.some((e) => e.network === net.name)) throw new ConflictError(`container ${containerId} is already connected to network ${net.name}`);
    const e = this.endpoint(net, options.aliases, options.ipv4Address, new Set());
    a.endpoints.push(e);
    const { aliases: _aliases, ...iface } = e;
    return iface;
  }

  async disconnect(containerId: string, network: string): Promise<void> {
    const a = this.attachments.get(containerId);
    if (!a || !a.endpoints.some((e) => e.network === network)) throw new NotFoundError(`container ${containerId} is not connected to network ${network}`);
    a.endpoints = a.endpoints.filter((e) => e.network !== network);
  }

  setContainerNames(hook: ContainerNamesHook): void {
    this.names = hook;
  }

  /**
   * What `name` resolves to for `containerId` on its user networks, as the embedded DNS
   * answers: the addresses of the containers named so (names hook, or hostname and ids)
   * or aliased so on a network both are on.
   */
  lookup(containerId: string, name: string): string[] {
    const asker = this.attachments.get(containerId);
    if (!asker) return [];
    const nets = new Set(asker.endpoints.filter((e) => e.network !== this.defaultNetworkName).map((e) => e.network));
    const wanted = name.toLowerCase();
    const out: string[] = [];
    for (const [id, a] of this.attachments) {
      const names = this.names ? this.names(id) : [...(a.hostname ? [a.hostname] : []), id, id.slice(0, 12)];
      if (!names) continue;
      for (const e of a.endpoints) {
        if (!nets.has(e.network)) continue;
        if ([...names, ...e.aliases].some((n) => n.toLowerCase() === wanted)) out.push(e.ip);
      }
    }
    return [...new Set(out)];
  }

  async restoreDns(): Promise<void> {
    // the names live in this object: nothing to reload
  }

  close(): void {
    // no listeners to close
  }
}
