import type { AttachmentRecord } from '../endpoint-records.js';
import { networkKey } from '../ipam-config.js';
import { Mutex } from '../mutex.js';
import type { EmbeddedDnsOptions, NetworkInfo } from '../types.js';
import { ContainerNames, type NamedContainer } from './names.js';
import { EmbeddedDns } from './server.js';

/**
 * The embedded DNS as the network manager drives it: the containers on user networks
 * (from their attachment records) and listeners on the gateways of the user networks
 * that have containers. The default network has no name resolution (as Docker's
 * default bridge).
 */
export class ContainerDns {
  private readonly server: EmbeddedDns;
  /** Attached containers with a user network, in memory for the DNS server (loaded by restore). */
  private readonly names: ContainerNames;
  /** update from attach, connect and detach in any order: one listener set change at a time. */
  private readonly lock = new Mutex();

  constructor(
    options: EmbeddedDnsOptions,
    private readonly defaultNetworkName: string,
    /** A network's record by its key (networkKey of its name). */
    private readonly networkByKey: (key: string) => Promise<NetworkInfo | undefined>,
  ) {
    this.names = new ContainerNames(options.containerNames);
    this.server = new EmbeddedDns({
      names: this.names,
      ...(options.upstreams ? { upstreams: options.upstreams } : {}),
      ...(options.forwardTimeoutMs !== undefined ? { forwardTimeoutMs: options.forwardTimeoutMs } : {}),
    });
  }

  /** Whether the container is known here (it has an endpoint on a user network). */
  has(containerId: string): boolean {
    return this.names.has(containerId);
  }

  isUserNetwork(network: string): boolean {
    return network !== this.defaultNetworkName;
  }

  onUserNetwork(record: AttachmentRecord): boolean {
    return record.networks.some((n) => this.isUserNetwork(n.network));
  }

  /** Loads attached containers (after a daemon restart) and opens the listeners. */
  async restore(records: AttachmentRecord[]): Promise<void> {
    for (const a of records) if (a.phase === 'attached') this.names.set(await this.named(a));
    await this.update(undefined, undefined);
  }

  setNamesOf(hook: (containerId: string) => string[] | undefined): void {
    this.names.setNamesOf(hook);
  }

  close(): void {
    this.server.close();
  }

  listening(): string[] {
    return this.server.listening();
  }

  /** Records (or forgets) one container's attachment and reopens the listeners to match. */
  update(containerId: string | undefined, record: AttachmentRecord | undefined): Promise<void> {
    return this.lock.run(() => this.updateLocked(containerId, record));
  }

  private async updateLocked(containerId: string | undefined, record: AttachmentRecord | undefined): Promise<void> {
    if (containerId) this.names.set(record ? await this.named(record) : { containerId, endpoints: [] });
    const gateways = new Map<string, string>();
    for (const name of this.names.networks()) {
      const info = await this.networkByKey(networkKey(name)).catch(() => undefined);
      if (info) gateways.set(info.gateway, info.name);
    }
    this.names.setGateways(gateways);
    await this.server.serve(gateways.keys());
  }

  /** A record as the DNS sees it: its plumbed user-network endpoints, and whether it can reach out at all. */
  private async named(record: AttachmentRecord): Promise<NamedContainer> {
    const endpoints = record.networks.flatMap((n) =>
      this.isUserNetwork(n.network) && n.iface ? [{ network: n.network, ip: n.iface.ip, aliases: n.aliases, ...(n.links?.length ? { links: n.links } : {}) }] : [],
    );
    let internalOnly = record.networks.length > 0;
    for (const n of record.networks) {
      if (!this.isUserNetwork(n.network) || !(await this.networkByKey(networkKey(n.network)).catch(() => undefined))?.internal) internalOnly = false;
    }
    return { containerId: record.containerId, ...(record.hostname ? { hostname: record.hostname } : {}), endpoints, ...(internalOnly ? { internalOnly } : {}) };
  }
}
