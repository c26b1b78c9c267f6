/**
 * Container networking through HCN (computenetwork.dll), as FACTS §4 gives the flow:
 * the `nat` network (Docker's `bridge` on Windows) once, then per container an endpoint
 * with its published ports as PortMapping policies, a namespace, the endpoint added to it;
 * the container document names the namespace.
 */
import { randomUUID } from 'node:crypto';
import { ConflictError, UnsupportedError } from '@berth/image-format';
import { endpointDocument, isHcsError, namespaceAddEndpoint, namespaceDocument, natNetwork, type HcsApi } from '@berth/hcs';
import type { NetworkSpec } from '@berth/runtime';

export interface NatOptions {
  /** The HCN network's name; default `nat`, as dockerd's. */
  name?: string;
  /** Used when the network has to be made; default 172.29.0.0/20 like Windows' default NAT. */
  subnet?: string;
  gateway?: string;
}

export interface ContainerNetwork {
  endpointId: string;
  namespaceId: string;
}

export class HcnNat {
  private networkId: Promise<string> | undefined;

  constructor(
    private readonly hcs: HcsApi,
    private readonly options: NatOptions = {},
  ) {}

  /** The id of the NAT network, made on first use when the host has none of that name. */
  network(): Promise<string> {
    this.networkId ??= (async () => {
      const name = this.options.name ?? 'nat';
      for (const id of await this.hcs.enumerateNetworks()) {
        const props = await this.hcs.queryNetworkProperties(id).catch(() => undefined);
        if (props?.Name === name) return id;
      }
      const id = randomUUID();
      await this.hcs.createNetwork(id, natNetwork({ name, subnet: this.options.subnet ?? '172.29.0.0/20', gateway: this.options.gateway ?? '172.29.0.1' }));
      return id;
    })();
    this.networkId.catch(() => (this.networkId = undefined));
    return this.networkId;
  }

  /** Endpoint + namespace for `bridge`/`nat` (and the default); nothing for `none`. */
  async attach(containerId: string, spec: NetworkSpec | undefined): Promise<ContainerNetwork | undefined> {
    const mode = spec?.mode ?? 'none';
    if (mode === 'none') return undefined;
    if (mode !== 'bridge' && mode !== 'nat' && mode !== 'default') throw new UnsupportedError(`network mode ${mode} is not supported by Windows containers here (bridge/nat or none)`);
    const net = await this.network();
    const endpointId = randomUUID();
    const ports = (spec?.ports ?? []).map((p) => ({ internal: p.containerPort, external: p.hostPort ?? 0, protocol: (p.protocol === 'udp' ? 'udp' : 'tcp') as 'tcp' | 'udp', ...(p.hostIp && p.hostIp !== '0.0.0.0' ? { hostIp: p.hostIp } : {}) }));
    try {
      await this.hcs.createEndpoint(net, endpointId, endpointDocument({ name: `${containerId}-${endpointId.slice(0, 8)}`, ports, dnsSearch: spec?.dns?.search, dnsServers: spec?.dns?.servers }));
    } catch (e) {
      if (isHcsError(e, 'HCN_E_PORT_ALREADY_EXISTS')) throw new ConflictError(`a published port of ${containerId} is already taken: ${(e as Error).message}`);
      throw e;
    }
    const namespaceId = randomUUID();
    try {
      await this.hcs.createNamespace(namespaceId, namespaceDocument());
      await this.hcs.modifyNamespace(namespaceId, namespaceAddEndpoint(endpointId));
    } catch (e) {
      await this.detach({ endpointId, namespaceId });
      throw e;
    }
    return { endpointId, namespaceId };
  }

  /** Removes what attach made; what is already gone is fine. */
  async detach(n: ContainerNetwork): Promise<void> {
    await this.hcs.deleteNamespace(n.namespaceId).catch((e: unknown) => ignoreGone(e));
    await this.hcs.deleteEndpoint(n.endpointId).catch((e: unknown) => ignoreGone(e));
  }
}

function ignoreGone(e: unknown): void {
  if (!isHcsError(e, 'HCN_E_ENDPOINT_NOT_FOUND', 'ERROR_NOT_FOUND')) throw e;
}
