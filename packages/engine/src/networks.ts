import { BerthError, ConflictError, InvalidArgumentError, NotFoundError, UnsupportedError } from '@berth/image-format';
import type { EndpointSettings, Filters, IPAMConfig as IpamConfig, NetworkCreateBody, NetworkInspect } from './docker-types.js';
import type { EventBus } from './events.js';
import { FilterSet } from './filters.js';
import { newId } from './names.js';
import type { NetworkService } from './services.js';
import type { Db } from './state/db.js';
import { ipamRequest, shownIpam, type IpamRequest } from './network-ipam.js';
import type { EndpointRequest, NetworkDriver } from '@berth/runtime';

/** An endpoint's settings as the network driver takes them (the fixed addresses, MAC and links it asks for). */
export function endpointRequest(name: string, ep: EndpointSettings | undefined, mac?: string): EndpointRequest {
  const links = (ep?.Links ?? []).flatMap((l) => {
    const [target = '', alias = target] = l.split(':');
    return target ? [{ alias: alias.replace(/^.*\//, ''), target: target.replace(/^\//, '') }] : [];
  });
  return {
    name,
    aliases: ep?.Aliases ?? [],
    ...(ep?.IPAMConfig?.IPv4Address ? { ipv4Address: ep.IPAMConfig.IPv4Address } : {}),
    ...(ep?.IPAMConfig?.IPv6Address ? { ipv6Address: ep.IPAMConfig.IPv6Address } : {}),
    ...((mac ?? ep?.MacAddress) ? { mac: (mac ?? ep?.MacAddress) as string } : {}),
    ...(links.length > 0 ? { links } : {}),
  };
}

/** A container as network connect/disconnect needs it. */
export interface AttachedContainer {
  id: string;
  name: string;
  /** The driver's id of the current run (what the network manager knows). */
  runtimeId: string;
  running: boolean;
  networkMode: string;
  networks: string[];
}

/**
 * The names a container answers to in the embedded DNS of its user networks besides its
 * aliases (Docker: its name and short ID), for a runtime id; `undefined` unless that run
 * is the container's current one and it is running.
 */
export function containerDnsNames(lookup: (id: string) => { id: string; name: string; runtimeId?: string; running: boolean } | undefined): (runtimeId: string) => string[] | undefined {
  return (runtimeId) => {
    const c = lookup(runtimeId.slice(0, 64));
    if (!c || !c.running || (c.runtimeId ?? c.id) !== runtimeId) return undefined;
    return [c.name.replace(/^\//, ''), c.id.slice(0, 12)];
  };
}

interface NetworkRecord {
  id: string;
  name: string;
  driver: 'bridge' | 'host' | 'null';
  created: string;
  internal: boolean;
  attachable: boolean;
  labels: Record<string, string>;
  options: Record<string, string>;
  /** IPAM.Config as inspect shows it. */
  ipam: IpamConfig[];
  enableIPv6?: boolean;
}

const PREDEFINED = ['bridge', 'host', 'none'] as const;

/** Where containers are attached, for inspect and in-use checks. */
export interface AttachmentLookup {
  /** Containers whose record names this network: id, name, running, endpoint. */
  attached(networkName: string): { id: string; name: string; running: boolean; endpoint: EndpointSettings }[];
  setEndpoint(container: string, network: string, endpoint: EndpointSettings | undefined): { running: boolean };
  /** The container `ref` names (full ID, name or unique prefix). */
  container?(ref: string): AttachedContainer;
  /** Records a running container's endpoint as the network manager set it up (undefined: gone). */
  saveEndpoint?(id: string, network: string, endpoint: EndpointSettings | undefined, configuredMac?: string): void;
  /** Settles when auto-removed containers have left their networks. */
  released?(): Promise<void>;
}

/** Docker's networks over the composition root's NetworkDriver; `bridge`, `host`, `none` are predefined. */
export class Networks implements NetworkService {
  attachments!: AttachmentLookup;

  constructor(
    private readonly db: Db,
    private readonly manager: NetworkDriver | undefined,
    private readonly events: EventBus,
    /** What `bridge` shows before its first container creates it. */
    private readonly defaultIpam?: { Subnet: string; Gateway: string },
  ) {
    const now = new Date().toISOString();
    for (const name of PREDEFINED) {
      if (this.row(name)) continue;
      const rec: NetworkRecord = { id: newId(), name, driver: name === 'none' ? 'null' : name, created: now, internal: false, attachable: false, labels: {}, options: {}, ipam: [] };
      this.db.prepare('INSERT OR IGNORE INTO eng_networks (id, name, record) VALUES (?, ?, ?)').run(rec.id, rec.name, JSON.stringify(rec));
    }
  }

  bridgeAvailable(): boolean {
    return this.manager !== undefined;
  }

  /** By exact name, full ID, or unique ID prefix. */
  resolve(nameOrId: string): { id: string; name: string; driver: string } {
    const r = this.find(nameOrId);
    return { id: r.id, name: r.name, driver: r.driver };
  }

  private find(nameOrId: string): NetworkRecord {
    const byName = this.row(nameOrId);
    if (byName) return byName;
    const rows = (this.db.prepare('SELECT record FROM eng_networks WHERE id >= ? AND id < ?').all(nameOrId, nameOrId + 'g') as { record: string }[]).map((r) => JSON.parse(r.record) as NetworkRecord);
    if (rows.length === 1) return rows[0]!;
    if (rows.length > 1) throw new InvalidArgumentError(`network ${nameOrId} is ambiguous (${rows.length} matches found based on ID prefix)`);
    throw new NotFoundError(`network ${nameOrId} not found`);
  }

  private row(name: string): NetworkRecord | undefined {
    const r = this.db.prepare('SELECT record FROM eng_networks WHERE name = ?').get(name) as { record: string } | undefined;
    return r ? (JSON.parse(r.record) as NetworkRecord) : undefined;
  }

  private all(): NetworkRecord[] {
    return (this.db.prepare('SELECT record FROM eng_networks ORDER BY name').all() as { record: string }[]).map((r) => JSON.parse(r.record) as NetworkRecord);
  }

  async create(body: NetworkCreateBody): Promise<{ Id: string; Warning: string }> {
    if (!body?.Name) throw new InvalidArgumentError('network name is required');
    if (this.row(body.Name)) throw new ConflictError(`network with name ${body.Name} already exists`);
    const driver = body.Driver || 'bridge';
    if (driver !== 'bridge') throw new NotFoundError(`could not find plugin ${driver} in v1 plugin registry: plugin not found`);
    if (!this.manager) throw new UnsupportedError('bridge networks need a network driver');
    const ipam = ipamRequest(body);
    const net = await this.manager.createNetwork({
      name: body.Name,
      ...ipam.request,
      ...(body.Options?.['com.docker.network.bridge.name'] ? { bridge: body.Options['com.docker.network.bridge.name'] } : {}),
      internal: body.Internal ?? false,
      labels: body.Labels ?? {},
    });
    const rec: NetworkRecord = {
      id: net.id,
      name: body.Name,
      driver: 'bridge',
      created: net.created,
      internal: body.Internal ?? false,
      attachable: body.Attachable ?? false,
      labels: body.Labels ?? {},
      options: body.Options ?? {},
      ipam: shownIpam(ipam.given, { Subnet: net.subnet, Gateway: net.gateway }),
      ...(body.EnableIPv6 ? { enableIPv6: true } : {}),
    };
    this.db.prepare('INSERT INTO eng_networks (id, name, record) VALUES (?, ?, ?)').run(rec.id, rec.name, JSON.stringify(rec));
    this.events.emit('network', 'create', rec.id, { name: rec.name, type: 'bridge' });
    return { Id: rec.id, Warning: '' };
  }

  async list(opts: { filters?: Filters } = {}): Promise<NetworkInspect[]> {
    const f = new FilterSet(opts.filters, ['name', 'id', 'driver', 'label', 'type', 'dangling', 'scope']);
    const dangling = f.bool('dangling');
    const out: NetworkInspect[] = [];
    for (const r of this.all()) {
      const builtin = (PREDEFINED as readonly string[]).includes(r.name);
      if (!f.matchAny('name', (v) => r.name.includes(v))) continue;
      if (!f.matchAny('id', (v) => r.id.startsWith(v))) continue;
      if (!f.matchAny('driver', (v) => r.driver === v)) continue;
      if (!f.matchLabels('label', r.labels)) continue;
      if (!f.matchAny('type', (v) => (v === 'builtin' ? builtin : v === 'custom' ? !builtin : false))) continue;
      if (!f.matchAny('scope', (v) => v === 'local')) continue;
      if (dangling !== undefined && dangling !== (!builtin && this.attachments.attached(r.name).length === 0)) continue;
      out.push(await this.format(r, false));
    }
    return out;
  }

  async inspect(nameOrId: string): Promise<NetworkInspect> {
    return this.format(this.find(nameOrId), true);
  }

  private async format(r: NetworkRecord, withContainers: boolean): Promise<NetworkInspect> {
    let ipam = r.ipam;
    if (r.name === 'bridge' && this.manager && ipam.length === 0) {
      const d = await this.manager.inspectNetwork(this.manager.defaultNetworkName).catch(() => undefined);
      if (d) ipam = [{ Subnet: d.subnet, Gateway: d.gateway }];
      else if (this.defaultIpam) ipam = [this.defaultIpam];
    }
    const containers: NetworkInspect['Containers'] = {};
    if (withContainers) {
      for (const c of this.attachments.attached(r.name)) {
        if (!c.running) continue;
        containers[c.id] = {
          Name: c.name,
          EndpointID: c.endpoint.EndpointID ?? '',
          MacAddress: c.endpoint.MacAddress ?? '',
          IPv4Address: c.endpoint.IPAddress ? `${c.endpoint.IPAddress}/${c.endpoint.IPPrefixLen ?? 0}` : '',
          IPv6Address: c.endpoint.GlobalIPv6Address ? `${c.endpoint.GlobalIPv6Address}/${c.endpoint.GlobalIPv6PrefixLen ?? 0}` : '',
        };
      }
    }
    return {
      Name: r.name,
      Id: r.id,
      Created: r.created,
      Scope: 'local',
      Driver: r.driver,
      EnableIPv4: true,
      EnableIPv6: r.enableIPv6 ?? false,
      IPAM: { Driver: 'default', Options: null, Config: ipam },
      Internal: r.internal,
      Attachable: r.attachable,
      Ingress: false,
      ConfigFrom: { Network: '' },
      ConfigOnly: false,
      Containers: containers,
      Options: r.name === 'bridge' ? { 'com.docker.network.bridge.default_bridge': 'true', ...r.options } : r.options,
      Labels: r.labels,
    };
  }

  async remove(nameOrId: string): Promise<void> {
    const r = this.find(nameOrId);
    await this.attachments.released?.();
    if ((PREDEFINED as readonly string[]).includes(r.name)) {
      throw new BerthError('Forbidden', `${r.name} is a pre-defined network and cannot be removed`);
    }
    const active = this.attachments.attached(r.name).filter((c) => c.running);
    if (active.length > 0) {
      throw new ConflictError(`error while removing network: network ${r.name} id ${r.id} has active endpoints`);
    }
    await this.manager?.removeNetwork(r.name).catch((err: unknown) => {
      if (!(err instanceof NotFoundError)) throw err;
    });
    this.db.prepare('DELETE FROM eng_networks WHERE id = ?').run(r.id);
    this.events.emit('network', 'destroy', r.id, { name: r.name, type: r.driver });
  }

  /**
   * A stopped container gets the endpoint recorded (applied at its next start); a running
   * one is plumbed now (an interface in its namespace, its names in the network's DNS).
   */
  async connect(nameOrId: string, body: { Container: string; EndpointConfig?: EndpointSettings }): Promise<void> {
    const r = this.find(nameOrId);
    const cfg = body.EndpointConfig ?? {};
    // the MAC asked for stays in the record (shown while stopped, applied at each start)
    const ep: EndpointSettings = { ...cfg, NetworkID: r.id, EndpointID: '', IPAddress: '', Gateway: '', IPPrefixLen: 0, MacAddress: cfg.MacAddress ?? '' };
    const c = this.attachments.container?.(body.Container);
    if (!c?.running) {
      this.attachments.setEndpoint(body.Container, r.name, ep);
      this.events.emit('network', 'connect', r.id, { name: r.name, type: r.driver, container: c?.id ?? body.Container });
      return;
    }
    if (!this.manager?.connect || !this.attachments.saveEndpoint) throw new UnsupportedError('connecting a running container needs driver-linux networking');
    if (c.networks.includes(r.name)) throw new BerthError('Forbidden', `endpoint with name ${c.name} already exists in network ${r.name}`);
    const refused = () => new BerthError('Forbidden', `container ${c.name} with network mode ${c.networkMode} cannot be connected to network ${r.name} while it runs`);
    if (r.driver !== 'bridge' || c.networkMode === 'host' || c.networkMode.startsWith('container:')) throw refused();
    const aliases = ep.Aliases ?? [];
    // `none` is either a container started without a network (no attachment: refused) or one
    // whose every network was disconnected while it ran (its namespace takes a new one).
    const iface = await this.manager.connect(c.runtimeId, endpointRequest(r.name, ep)).catch((err: unknown) => {
      throw err instanceof NotFoundError && c.networkMode === 'none' ? refused() : err;
    });
    const live: EndpointSettings = {
      ...ep,
      Aliases: aliases.length > 0 ? aliases : null,
      EndpointID: newId(),
      IPAddress: iface.ip,
      IPPrefixLen: iface.prefixLen,
      Gateway: iface.gateway,
      MacAddress: iface.mac,
      ...(iface.ip6 ? { GlobalIPv6Address: iface.ip6, GlobalIPv6PrefixLen: iface.prefixLen6 ?? 64, IPv6Gateway: iface.gateway6 ?? '' } : {}),
      DNSNames: r.name === 'bridge' ? null : [c.name, ...aliases, c.id.slice(0, 12)],
    };
    try {
      this.attachments.saveEndpoint(c.id, r.name, live, cfg.MacAddress || undefined);
    } catch (err) {
      await this.manager.disconnect?.(c.runtimeId, r.name).catch(() => undefined);
      throw err;
    }
    this.events.emit('network', 'connect', r.id, { name: r.name, type: r.driver, container: c.id });
  }

  async disconnect(nameOrId: string, body: { Container: string; Force?: boolean }): Promise<void> {
    const r = this.find(nameOrId);
    const c = this.attachments.container?.(body.Container);
    if (!c?.running) {
      this.attachments.setEndpoint(body.Container, r.name, undefined);
      this.events.emit('network', 'disconnect', r.id, { name: r.name, type: r.driver, container: c?.id ?? body.Container });
      return;
    }
    if (!this.manager?.disconnect || !this.attachments.saveEndpoint) throw new UnsupportedError('disconnecting a running container needs driver-linux networking');
    if (!c.networks.includes(r.name)) throw new NotFoundError(`container ${c.id} is not connected to network ${r.name}`);
    if (['host', 'none'].includes(r.name)) throw new BerthError('Forbidden', `container cannot be disconnected from ${r.name} network while it runs`);
    await this.manager.disconnect(c.runtimeId, r.name).catch((err: unknown) => {
      // --force: the endpoint goes from the record even when the plumbing was already gone.
      if (!(body.Force && err instanceof NotFoundError)) throw err;
    });
    this.attachments.saveEndpoint(c.id, r.name, undefined);
    this.events.emit('network', 'disconnect', r.id, { name: r.name, type: r.driver, container: c.id });
  }

  /** Serves names of containers still running from before a restart (the embedded DNS). */
  async restore(): Promise<void> {
    await this.manager?.restoreDns?.().catch(() => undefined);
  }

  /** Resolves when the namespaces of exited runs (dropped after their exit was answered) are gone. */
  async cleanupsSettled(): Promise<void> {
    await this.manager?.cleanupsSettled?.().catch(() => undefined);
  }

  /** Closes the embedded DNS listeners; containers keep running. */
  close(): void {
    this.manager?.close?.();
  }

  async prune(opts: { filters?: Filters } = {}): Promise<{ NetworksDeleted: string[] }> {
    const f = new FilterSet(opts.filters, ['label', 'until']);
    await this.attachments.released?.();
    const deleted: string[] = [];
    for (const r of this.all()) {
      if ((PREDEFINED as readonly string[]).includes(r.name)) continue;
      if (!f.matchLabels('label', r.labels)) continue;
      if (this.attachments.attached(r.name).length > 0) continue;
      await this.remove(r.id);
      deleted.push(r.name);
    }
    return { NetworksDeleted: deleted };
  }
}
