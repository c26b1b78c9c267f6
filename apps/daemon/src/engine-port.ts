import type { Engine } from '@berth/engine';

/**
 * What berthd needs from the engine: its Docker-shaped services, the builder and `close`.
 * The real `Engine` from @berth/engine satisfies it; routes depend only on this.
 */
export type EngineLike = Pick<Engine, 'images' | 'containers' | 'volumes' | 'networks' | 'events' | 'system' | 'builder' | 'plugins' | 'close'>;

export type {
  ContainerService,
  ImageService,
  VolumeService,
  NetworkService,
  EventService,
  SystemService,
  AttachSession,
  OutputChunk,
  ProgressMessage,
  RegistryAuth,
  Filters,
  WaitCondition,
  EngineConfig,
} from '@berth/engine';
