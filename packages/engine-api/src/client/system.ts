import type { AuthConfig, AuthResponse, Filters } from '../types/common.js';
import type { EventMessage, SystemDataUsage, SystemInfo, SystemVersion } from '../types/system.js';
import { readJsonLines } from '../stream/json-lines.js';
import { EngineConnection } from './connection.js';

export interface EventsOptions {
  since?: string | number;
  until?: string | number;
  filters?: Filters;
}

/** The daemon as a whole: version, info, disk usage, login, events (`ping` is the connection's). */
export class SystemCalls extends EngineConnection {
  version(): Promise<SystemVersion> {
    return this.json('GET', '/version');
  }

  info(): Promise<SystemInfo> {
    return this.json('GET', '/info');
  }

  df(): Promise<SystemDataUsage> {
    return this.json('GET', '/system/df');
  }

  auth(config: AuthConfig): Promise<AuthResponse> {
    return this.json('POST', '/auth', { body: config });
  }

  /** The daemon's event stream; breaking out of the loop closes the connection. */
  async *events(options: EventsOptions = {}): AsyncGenerator<EventMessage> {
    const res = await this.send('GET', '/events', {
      query: { since: options.since?.toString(), until: options.until?.toString(), filters: options.filters },
    });
    try {
      yield* readJsonLines<EventMessage>(res);
    } finally {
      res.destroy();
    }
  }
}
