/**
 * @berth/runtime's NetworkDriver over HCN (FACTS §4): a Docker network is an HCN network
 * (`NAT`; `internal` ones `Internal`, no way out) with static IPAM; a container gets one
 * HCN namespace, and per network an endpoint added to it (published ports as PortMapping
 * policies on its first non-internal network). Addresses are the driver's to pick, as
 * dockerd's IPAM does, and HCN is told them. The container document names the namespace
 * (`namespaceOf`). Name resolution is the driver's table (`lookup`), served to containers
 * by a DNS server at the gateway on Windows: that server is not written yet.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { ConflictError, InvalidArgumentError, NotFoundError } from '@berth/image-format';
import { endpointDocument, isHcsError, namespaceAddEndpoint, namespaceDocument, namespaceRemoveEndpoint, natNetwork, type HcsApi } from '@berth/hcs';
import type {
  ContainerNamesHook,
  EndpointAttachment,
  EndpointInterface,
  EndpointOptions,
  EndpointRequest,
  NetworkCreateOptions,
  NetworkDetails,
  NetworkDriver,
  NetworkInfo,
  PortMapping,
  PublishedPort,
} from '@berth/runtime';
import { allocatePorts } from '@berth/runtime';

const ipToInt = (ip: string) => ip.split('.').reduce((a, o) => a * 256 + Number(o), 0);
const intToIp = (n: number) => [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');

function parseCidr(cidr: string): { base: number; len: number } {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3})\/(\d{1,2})$/.exec(cidr);
  const len = Number(m?.[2]);
  if (!m || len < 8 || len > 30 || m[1]!.split('.').some((o) => Number(o) > 255)) throw new InvalidArgumentError(`invalid subnet ${cidr}`);
  const size = 2 ** (32 - len);
  return { base: ipToInt(m[1]!) - (ipToInt(m[1]!) % size), len };
}

interface Net {
  info: NetworkInfo;
  hcnId: string;
  base: number;
  len: number;
}

interface Endpoint {
  network: string;
  hcnId: string;
  ip: string;
  mac: string;
  aliases: string[];
  ports: PublishedPort[];
}

interface Attachment {
  mode: EndpointOptions['mode'];
  namespaceId?: string;
  hostname?: string;
  endpoints: Endpoint[];
}

/**
 * What a runtime driver does beyond HCN when a running container joins or leaves a network:
 * HNS plumbs an endpoint added to a namespace into a process-isolated container's
 * compartment itself, but a utility VM needs it hot-added as a network adapter and its guest
 * told (hcsshim AddEndpointsToNS / RemoveEndpointFromNS). Each hook ignores containers that
 * are not its own.
 */
export interface LiveEndpointHook {
  /** After the endpoint is in the container's namespace; a failure undoes the connect. */
  added(containerId: string, namespaceId: string, endpointId: string): Promise<void>;
  /** Before the endpoint leaves the namespace. */
  removing(containerId: string, namespaceId: string, endpointId: string): Promise<void>;
}

export interface HcnNetworkDriverOptions {
  /** Docker's `bridge` on Windows is `nat`. */
  defaultNetworkName?: string;
  defaultSubnet?: string;
  /**
   * Where the networks and attachments are kept, so a restarted berthd can detach (and
   * inspect) the containers it takes back: HCN keeps the endpoints, not which is whose.
   */
  stateFile?: string;
}

async function freePort(hostIp: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, hostIp || '0.0.0.0', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

export class HcnNetworkDriver implements NetworkDriver {
  readonly defaultNetworkName: string;
  private readonly networks = new Map<string, Net>();
  private readonly attachments = new Map<string, Attachment>();
  private names: ContainerNamesHook = () => [];
  private readonly liveHooks: LiveEndpointHook[] = [];

  constructor(
    private readonly hcs: HcsApi,
    private readonly options: HcnNetworkDriverOptions = {},
  ) {
    this.defaultNetworkName = options.defaultNetworkName ?? 'nat';
    if (options.stateFile) this.load(options.stateFile);
  }

  private load(file: string): void {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      return;
    }
    const saved = JSON.parse(text) as { networks: Net[]; attachments: [string, Attachment][] };
    for (const n of saved.networks) this.networks.set(n.info.name, n);
    for (const [id, a] of saved.attachments) this.attachments.set(id, a);
  }

  /** Written whole after each change (a small file; rename keeps it whole across a crash). */
  private save(): void {
    const file = this.options.stateFile;
    if (!file) return;
    writeFileSync(`${file}.tmp`, JSON.stringify({ networks: [...this.networks.values()], attachments: [...this.attachments.entries()] }));
    renameSync(`${file}.tmp`, file);
  }

  private net(name: string): Net {
    const n = this.networks.get(name);
    if (!n) throw new NotFoundError(`network ${name} not found`);
    return n;
  }

  async createNetwork(options: NetworkCreateOptions): Promise<NetworkInfo> {
    if (this.networks.has(options.name)) throw new ConflictError(`network with name ${options.name} already exists`);
    let subnet = options.subnet;
    for (let i = 0; !subnet && i < 256; i++) {
      const candidate = `172.${30 + (i >> 8)}.${i & 255}.0/24`;
      if (!this.overlaps(parseCidr(candidate))) subnet = candidate;
    }
    if (!subnet) throw new ConflictError('no free subnet left');
    const c = parseCidr(subnet);
    if (this.overlaps(c)) throw new ConflictError(`subnet ${subnet} overlaps with another network`);
    const gateway = options.gateway ?? intToIp(c.base + 1);
    const hcnId = randomUUID();
    const doc = natNetwork({ name: options.name, subnet: `${intToIp(c.base)}/${c.len}`, gateway });
    if (options.internal) doc.Type = 'Internal';
    try {
      await this.hcs.createNetwork(hcnId, doc);
    } catch (e) {
      if (isHcsError(e, 'HCN_E_NETWORK_ALREADY_EXISTS')) throw new ConflictError(`network with name ${options.name} already exists on the host`);
      throw e;
    }
    const info: NetworkInfo = { id: createHash('sha256').update(hcnId).digest('hex'), name: options.name, subnet: `${intToIp(c.base)}/${c.len}`, gateway, internal: !!options.internal, labels: { ...(options.labels ?? {}) }, created: new Date().toISOString() };
    this.networks.set(options.name, { info, hcnId, base: c.base, len: c.len });
    this.save();
    return { ...info };
  }

  private overlaps(c: { base: number; len: number }): boolean {
    return [...this.networks.values()].some((n) => c.base < n.base + 2 ** (32 - n.len) && n.base < c.base + 2 ** (32 - c.len));
  }

  async ensureDefaultNetwork(): Promise<NetworkInfo> {
    const n = this.networks.get(this.defaultNetworkName);
    if (n) return { ...n.info };
    const adopted = await this.adopt(this.defaultNetworkName);
    if (adopted) return adopted;
    return this.createNetwork({ name: this.defaultNetworkName, ...(this.options.defaultSubnet ? { subnet: this.options.defaultSubnet } : {}) });
  }

  /** A host's HCN network of that name (Windows makes `nat` itself), taken as it is. */
  private async adopt(name: string): Promise<NetworkInfo | undefined> {
    for (const hcnId of await this.hcs.enumerateNetworks()) {
      const props = await this.hcs.queryNetworkProperties(hcnId).catch(() => undefined);
      const sub = props?.Ipams?.[0]?.Subnets[0];
      if (props?.Name !== name || !sub) continue;
      const c = parseCidr(sub.IpAddressPrefix);
      const gateway = sub.Routes?.[0]?.NextHop ?? intToIp(c.base + 1);
      const info: NetworkInfo = { id: createHash('sha256').update(hcnId.toLowerCase()).digest('hex'), name, subnet: `${intToIp(c.base)}/${c.len}`, gateway, internal: props.Type === 'Internal', labels: {}, created: new Date().toISOString() };
      this.networks.set(name, { info, hcnId, base: c.base, len: c.len });
      this.save();
      return { ...info };
    }
    return undefined;
  }

  async removeNetwork(name: string): Promise<void> {
    const n = this.net(name);
    if ([...this.attachments.values()].some((a) => a.endpoints.some((e) => e.network === name))) throw new ConflictError(`error while removing network: network ${name} id ${n.info.id} has active endpoints`);
    await this.hcs.deleteNetwork(n.hcnId).catch((e: unknown) => {
      if (!isHcsError(e, 'HCN_E_NETWORK_NOT_FOUND')) throw e;
    });
    this.networks.delete(name);
    this.save();
  }

  async listNetworks(): Promise<NetworkInfo[]> {
    return [...this.networks.values()].map((n) => ({ ...n.info }));
  }

  async inspectNetwork(name: string): Promise<NetworkDetails> {
    const n = this.net(name);
    const containers = [...this.attachments.entries()].flatMap(([containerId, a]) =>
      a.endpoints.filter((e) => e.network === name).map((e) => ({ containerId, ip: e.ip, prefixLen: n.len, mac: e.mac, aliases: [...e.aliases], ...(a.hostname ? { hostname: a.hostname } : {}) })),
    );
    return { ...n.info, containers };
  }

  /** The HCN namespace the container's document names; undefined for `none`. */
  namespaceOf(containerId: string): string | undefined {
    return this.attachments.get(containerId)?.namespaceId;
  }

  private pickIp(n: Net, wanted?: string): string {
    const used = new Set([...this.attachments.values()].flatMap((a) => a.endpoints.filter((e) => e.network === n.info.name).map((e) => e.ip)));
    if (wanted) {
      if (parseCidr(`${wanted}/${n.len}`).base !== n.base) throw new InvalidArgumentError(`address ${wanted} is not in network ${n.info.name}'s subnet ${n.info.subnet}`);
      if (used.has(wanted) || wanted === n.info.gateway) throw new ConflictError(`address ${wanted} on network ${n.info.name} is already in use`);
      return wanted;
    }
    for (let i = 2; i < 2 ** (32 - n.len) - 1; i++) {
      const ip = intToIp(n.base + i);
      if (!used.has(ip) && ip !== n.info.gateway) return ip;
    }
    throw new ConflictError(`no address left in network ${n.info.name}`);
  }

  /** The allocator every driver shares; HNS itself refuses a port a host process holds (HCN_E_PORT_ALREADY_EXISTS at endpoint creation). */
  private async publish(ports: PortMapping[]): Promise<PublishedPort[]> {
    const published = [...this.attachments.entries()].map(([containerId, a]) => ({ containerId, ports: a.endpoints.flatMap((e) => e.ports) }));
    const wanted = ports.map((want): PublishedPort => ({ hostIp: want.hostIp && want.hostIp !== '0.0.0.0' ? want.hostIp : '', hostPort: want.hostPort, containerPort: want.containerPort, protocol: want.protocol ?? 'tcp' }));
    return allocatePorts(wanted, published, { tryBind: async () => undefined, ephemeral: (p) => freePort(p.hostIp) });
  }

  private async addEndpoint(a: Attachment, containerId: string, req: EndpointRequest, ports: PublishedPort[]): Promise<Endpoint> {
    const n = this.net(req.name);
    if (a.endpoints.some((e) => e.network === req.name)) throw new ConflictError(`container ${containerId} is already connected to network ${req.name}`);
    const ip = this.pickIp(n, req.ipv4Address);
    // Hyper-V's OUI, as HNS gives endpoints
    const mac = req.mac ?? `00:15:5d:${randomBytes(3).toString('hex').match(/../g)!.join(':')}`;
    const hcnId = randomUUID();
    try {
      await this.hcs.createEndpoint(n.hcnId, hcnId, endpointDocument({ name: `${containerId}-${req.name}`, ipAddress: ip, prefixLength: n.len, mac, ports: ports.map((p) => ({ internal: p.containerPort, external: p.hostPort, protocol: p.protocol, ...(p.hostIp ? { hostIp: p.hostIp } : {}) })) }));
    } catch (e) {
      if (isHcsError(e, 'HCN_E_PORT_ALREADY_EXISTS')) throw new ConflictError(`a published port of ${containerId} is taken on the host: ${(e as Error).message}`);
      throw e;
    }
    const ep: Endpoint = { network: req.name, hcnId, ip, mac, aliases: [...(req.aliases ?? [])], ports };
    try {
      await this.hcs.modifyNamespace(a.namespaceId!, namespaceAddEndpoint(hcnId));
    } catch (e) {
      await this.hcs.deleteEndpoint(hcnId).catch(() => undefined);
      throw e;
    }
    a.endpoints.push(ep);
    this.save();
    return ep;
  }

  private iface(ep: Endpoint): EndpointInterface {
    const n = this.net(ep.network);
    return { network: ep.network, ip: ep.ip, prefixLen: n.len, gateway: n.info.gateway, mac: ep.mac };
  }

  async attach(containerId: string, options: EndpointOptions): Promise<EndpointAttachment> {
    if (this.attachments.has(containerId)) throw new ConflictError(`container ${containerId} is already attached to a network`);
    if (options.mode !== 'bridge') {
      this.attachments.set(containerId, { mode: options.mode, endpoints: [] });
      this.save();
      return { interfaces: [], ports: [] };
    }
    const wanted = options.networks?.length ? options.networks : [{ name: this.defaultNetworkName }];
    if (wanted.some((w) => w.name === this.defaultNetworkName)) await this.ensureDefaultNetwork();
    for (const w of wanted) this.net(w.name);
    const publishOn = wanted.find((w) => !this.net(w.name).info.internal)?.name;
    const ports = publishOn ? await this.publish(options.ports ?? []) : [];
    const a: Attachment = { mode: 'bridge', namespaceId: randomUUID(), hostname: options.hostname, endpoints: [] };
    await this.hcs.createNamespace(a.namespaceId!, namespaceDocument());
    this.attachments.set(containerId, a);
    this.save();
    try {
      for (const w of wanted) await this.addEndpoint(a, containerId, w, w.name === publishOn ? ports : []);
    } catch (e) {
      await this.detach(containerId);
      throw e;
    }
    const user = a.endpoints.some((e) => e.network !== this.defaultNetworkName);
    return { interfaces: a.endpoints.map((e) => this.iface(e)), ports: a.endpoints.flatMap((e) => e.ports), ...(user ? { nameservers: [this.net(a.endpoints.find((e) => e.network !== this.defaultNetworkName)!.network).info.gateway] } : {}) };
  }

  private async removeEndpoint(a: Attachment, ep: Endpoint): Promise<void> {
    if (a.namespaceId) await this.hcs.modifyNamespace(a.namespaceId, namespaceRemoveEndpoint(ep.hcnId)).catch(() => undefined);
    await this.hcs.deleteEndpoint(ep.hcnId).catch((e: unknown) => {
      if (!isHcsError(e, 'HCN_E_ENDPOINT_NOT_FOUND')) throw e;
    });
    a.endpoints = a.endpoints.filter((x) => x !== ep);
    this.save();
  }

  async detach(containerId: string): Promise<void> {
    const a = this.attachments.get(containerId);
    if (!a) return;
    for (const ep of [...a.endpoints]) await this.removeEndpoint(a, ep);
    if (a.namespaceId) {
      await this.hcs.deleteNamespace(a.namespaceId).catch((e: unknown) => {
        if (!isHcsError(e, 'ERROR_NOT_FOUND')) throw e;
      });
    }
    this.attachments.delete(containerId);
    this.save();
  }

  /** Called on connect and disconnect of a running container (not at attach/detach: the sandbox plumbs those). */
  addLiveHook(hook: LiveEndpointHook): void {
    this.liveHooks.push(hook);
  }

  async connect(containerId: string, options: EndpointRequest): Promise<EndpointInterface> {
    const a = this.attachments.get(containerId);
    if (!a) throw new NotFoundError(`container ${containerId} has no network attachment`);
    if (a.mode !== 'bridge') throw new ConflictError(`container ${containerId} has network mode ${a.mode} and cannot join a network`);
    const ep = await this.addEndpoint(a, containerId, options, []);
    try {
      for (const h of this.liveHooks) await h.added(containerId, a.namespaceId!, ep.hcnId);
    } catch (e) {
      await this.removeEndpoint(a, ep).catch(() => undefined);
      throw e;
    }
    return this.iface(ep);
  }

  async disconnect(containerId: string, network: string): Promise<void> {
    const a = this.attachments.get(containerId);
    const ep = a?.endpoints.find((e) => e.network === network);
    if (!a || !ep) throw new NotFoundError(`container ${containerId} is not connected to network ${network}`);
    for (const h of this.liveHooks) await h.removing(containerId, a.namespaceId!, ep.hcnId);
    await this.removeEndpoint(a, ep);
  }

  setContainerNames(hook: ContainerNamesHook): void {
    this.names = hook;
  }

  /** The addresses `name` resolves to for `containerId`: names and aliases on the user networks they share. */
  lookup(containerId: string, name: string): string[] {
    const mine = this.attachments.get(containerId);
    if (!mine) return [];
    const nets = new Set(mine.endpoints.map((e) => e.network).filter((n) => n !== this.defaultNetworkName));
    const out: string[] = [];
    for (const [id, a] of this.attachments) {
      const names = this.names(id);
      if (names === undefined) continue;
      for (const e of a.endpoints) if (nets.has(e.network) && (names.includes(name) || e.aliases.includes(name))) out.push(e.ip);
    }
    return out;
  }

  async restoreDns(): Promise<void> {
    // the table lives in this object; nothing outlives it yet
  }

  close(): void {
    this.names = () => [];
  }
}
