import type { Filters } from '../types/common.js';
import type {
  Network,
  NetworkConnectBody,
  NetworkCreateBody,
  NetworkCreateResponse,
  NetworkDisconnectBody,
  NetworkPruneResponse,
} from '../types/network.js';
import { EngineConnection, seg } from './connection.js';

export class NetworkCalls extends EngineConnection {
  networkCreate(body: NetworkCreateBody): Promise<NetworkCreateResponse> {
    return this.json('POST', '/networks/create', { body });
  }

  networkList(options: { filters?: Filters } = {}): Promise<Network[]> {
    return this.json('GET', '/networks', { query: { filters: options.filters } });
  }

  networkInspect(id: string): Promise<Network> {
    return this.json('GET', `/networks/${seg(id)}`);
  }

  async networkRemove(id: string): Promise<void> {
    await this.empty('DELETE', `/networks/${seg(id)}`);
  }

  async networkConnect(id: string, body: NetworkConnectBody): Promise<void> {
    await this.empty('POST', `/networks/${seg(id)}/connect`, { body });
  }

  async networkDisconnect(id: string, body: NetworkDisconnectBody): Promise<void> {
    await this.empty('POST', `/networks/${seg(id)}/disconnect`, { body });
  }

  networkPrune(filters?: Filters): Promise<NetworkPruneResponse> {
    return this.json('POST', '/networks/prune', { query: { filters } });
  }
}
