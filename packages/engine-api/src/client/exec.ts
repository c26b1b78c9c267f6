import type { IdResponse } from '../types/common.js';
import type { ExecCreateBody, ExecInspect, ExecStartBody } from '../types/container.js';
import { EngineConnection, seg, type HijackedStream } from './connection.js';

/** `/containers/{id}/exec` and `/exec/...`. */
export class ExecCalls extends EngineConnection {
  execCreate(containerId: string, body: ExecCreateBody): Promise<IdResponse> {
    return this.json('POST', `/containers/${seg(containerId)}/exec`, { body });
  }

  /** Starts an exec; attached (default) it returns the hijacked stream, detached it returns undefined. */
  async execStart(execId: string, body: ExecStartBody = {}): Promise<HijackedStream | undefined> {
    if (body.Detach) {
      await this.empty('POST', `/exec/${seg(execId)}/start`, { body });
      return undefined;
    }
    return this.hijack(`/exec/${seg(execId)}/start`, { body });
  }

  async execResize(execId: string, size: { h: number; w: number }): Promise<void> {
    await this.empty('POST', `/exec/${seg(execId)}/resize`, { query: size });
  }

  execInspect(execId: string): Promise<ExecInspect> {
    return this.json('GET', `/exec/${seg(execId)}/json`);
  }
}
