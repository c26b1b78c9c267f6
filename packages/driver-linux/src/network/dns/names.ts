import type { DnsNameSource } from './server.js';

/** One user network a container is on, as the embedded DNS sees it. */
interface NamedEndpoint {
  network: string;
  ip: string;
  aliases: string[];
  /** Names only this container resolves here: `alias` answers as `target` (a container's name) does. */
  links?: { alias: string; target: string }[];
}

/** A container with its user-network endpoints (never the default network's). */
export interface NamedContainer {
  containerId: string;
  hostname?: string;
  endpoints: NamedEndpoint[];
  /** Only on internal networks: its questions for other names are not forwarded (Docker, CVE-2024-29018). */
  internalOnly?: boolean;
}

/**
 * The embedded DNS's view of the containers, with Docker's rules: the asker (a container
 * on a user network, by source address) resolves the names of containers on the user
 * networks it is on, in its order; anyone else (a default-network container, the host)
 * gets nothing here, not even a forwarded answer.
 */
export class ContainerNames implements DnsNameSource {
  private readonly containers = new Map<string, NamedContainer>();
  /** Listening address (a user network's gateway) -> network. */
  private gateways = new Map<string, string>();

  /**
   * @param namesOf the names a container answers to besides its aliases; `undefined`
   * while it must not resolve (stopped). Default: hostname, id, 12-character id.
   */
  constructor(private namesOf?: (containerId: string) => string[] | undefined) {}

  /** Replaces the names source (the engine, made after the manager, knows container names). */
  setNamesOf(namesOf: (containerId: string) => string[] | undefined): void {
    this.namesOf = namesOf;
  }

  /** Records a container (without endpoints: forgets it). */
  set(c: NamedContainer): void {
    if (c.endpoints.length > 0) this.containers.set(c.containerId, c);
    else this.containers.delete(c.containerId);
  }

  has(containerId: string): boolean {
    return this.containers.has(containerId);
  }

  /** The user networks with at least one container: the ones to listen on. */
  networks(): Set<string> {
    const out = new Set<string>();
    for (const c of this.containers.values()) for (const e of c.endpoints) out.add(e.network);
    return out;
  }

  setGateways(gateways: Map<string, string>): void {
    this.gateways = gateways;
  }

  lookup(serverIp: string, clientIp: string, name: string): string[] | undefined {
    const asker = this.asker(serverIp, clientIp);
    if (!asker) return undefined;
    const names = new Map<string, string[] | undefined>();
    for (const { network, links } of asker.endpoints) {
      // `name.network` as well, as Docker answers it
      const suffix = `.${network.toLowerCase()}`;
      let short = name.endsWith(suffix) ? name.slice(0, -suffix.length) : undefined;
      // A link alias of the asker's endpoint stands for the linked container's name.
      const link = links?.find((l) => l.alias.toLowerCase() === name || l.alias.toLowerCase() === short);
      if (link) short = link.target.toLowerCase();
      const ips: string[] = [];
      for (const c of this.containers.values()) {
        const e = c.endpoints.find((x) => x.network === network);
        if (!e) continue;
        if (!names.has(c.containerId)) names.set(c.containerId, this.names(c));
        const own = names.get(c.containerId);
        if (!own) continue;
        const known = (x: string) => own.includes(x) || e.aliases.some((a) => a.toLowerCase() === x);
        if (known(name) || (short !== undefined && known(short))) ips.push(e.ip);
      }
      if (ips.length > 0) return ips;
    }
    return undefined;
  }

  /**
   * Whether a question from `clientIp` may go upstream: only from a container on a user
   * network that is not only on internal ones. Anyone else (another host routed to the
   * gateway, the host itself) finds no open resolver here.
   */
  mayForward(serverIp: string, clientIp: string): boolean {
    const asker = this.asker(serverIp, clientIp);
    return asker !== undefined && !asker.internalOnly;
  }

  /** PTR: `name.network` for a resolvable container's address on one of the asker's networks. */
  reverse(serverIp: string, clientIp: string, ip: string): string | undefined {
    const asker = this.asker(serverIp, clientIp);
    if (!asker) return undefined;
    const nets = new Set(asker.endpoints.map((e) => e.network));
    for (const c of this.containers.values()) {
      const e = c.endpoints.find((x) => nets.has(x.network) && x.ip === ip);
      const name = e ? this.names(c)?.[0] : undefined;
      if (e && name) return `${name}.${e.network}`;
    }
    return undefined;
  }

  private asker(serverIp: string, clientIp: string): NamedContainer | undefined {
    if (!this.gateways.has(serverIp)) return undefined;
    for (const c of this.containers.values()) if (c.endpoints.some((e) => e.ip === clientIp)) return c;
    return undefined;
  }

  private names(c: NamedContainer): string[] | undefined {
    const names = this.namesOf ? this.namesOf(c.containerId) : [...(c.hostname ? [c.hostname] : []), c.containerId, c.containerId.slice(0, 12)];
    return names?.map((x) => x.toLowerCase());
  }
}
