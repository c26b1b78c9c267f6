import type { Filters } from '../types/common.js';
import type { Volume, VolumeCreateBody, VolumeListResponse, VolumePruneResponse } from '../types/volume.js';
import { EngineConnection, seg } from './connection.js';

export class VolumeCalls extends EngineConnection {
  volumeCreate(body: VolumeCreateBody = {}): Promise<Volume> {
    return this.json('POST', '/volumes/create', { body });
  }

  volumeList(options: { filters?: Filters } = {}): Promise<VolumeListResponse> {
    return this.json('GET', '/volumes', { query: { filters: options.filters } });
  }

  volumeInspect(name: string): Promise<Volume> {
    return this.json('GET', `/volumes/${seg(name)}`);
  }

  async volumeRemove(name: string, options: { force?: boolean } = {}): Promise<void> {
    await this.empty('DELETE', `/volumes/${seg(name)}`, { query: { force: options.force } });
  }

  volumePrune(filters?: Filters): Promise<VolumePruneResponse> {
    return this.json('POST', '/volumes/prune', { query: { filters } });
  }
}
