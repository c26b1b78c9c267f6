import type http from 'node:http';
import type { Readable } from 'node:stream';
import { BerthError } from '@berth/image-format';
import type { Filters } from '../types/common.js';
import type {
  ContainerChange,
  ContainerCreateBody,
  ContainerCreateResponse,
  ContainerInspect,
  ContainerPruneResponse,
  ContainerStats,
  ContainerSummary,
  ContainerTopResponse,
  ContainerUpdateBody,
  ContainerWaitResponse,
  WaitCondition,
} from '../types/container.js';
import { drain, readText } from './transport.js';
import type { Query } from './query.js';
import { EngineConnection, headerString, seg, type HijackedStream } from './connection.js';

export interface ContainerListOptions {
  all?: boolean;
  limit?: number;
  size?: boolean;
  filters?: Filters;
}

/** GET /containers/json's query for `options` (also sent by callers without EngineClient). */
export function containerListQuery(options: ContainerListOptions): Query {
  return { all: options.all, limit: options.limit, size: options.size, filters: options.filters };
}

export interface LogsOptions {
  follow?: boolean;
  stdout?: boolean;
  stderr?: boolean;
  since?: number | string;
  until?: number | string;
  timestamps?: boolean;
  tail?: number | 'all';
}

export interface AttachOptions {
  stream?: boolean;
  stdin?: boolean;
  stdout?: boolean;
  stderr?: boolean;
  logs?: boolean;
  detachKeys?: string;
}

/** Docker's path stat (X-Docker-Container-Path-Stat); `mode` uses Go's os.FileMode bits (directory = 1<<31, symlink = 1<<27). */
export interface ContainerPathStat {
  name: string;
  size: number;
  mode: number;
  mtime: string;
  linkTarget: string;
}

function pathStatHeader(res: http.IncomingMessage): ContainerPathStat {
  const raw = headerString(res.headers['x-docker-container-path-stat']);
  if (raw === '') throw new BerthError('Internal', 'the daemon sent no X-Docker-Container-Path-Stat header');
  return JSON.parse(Buffer.from(raw, 'base64').toString('utf8')) as ContainerPathStat;
}

/** `/containers/...`: lifecycle, inspection, logs, attach and the filesystem (export, archive). */
export class ContainerCalls extends EngineConnection {
  async containerCreate(body: ContainerCreateBody, options: { name?: string; platform?: string } = {}): Promise<ContainerCreateResponse> {
    return this.json('POST', '/containers/create', { query: { name: options.name, platform: options.platform }, body });
  }

  containerList(options: ContainerListOptions = {}): Promise<ContainerSummary[]> {
    return this.json('GET', '/containers/json', { query: containerListQuery(options) });
  }

  containerInspect(id: string, options: { size?: boolean } = {}): Promise<ContainerInspect> {
    return this.json('GET', `/containers/${seg(id)}/json`, { query: { size: options.size } });
  }

  async containerStart(id: string, options: { detachKeys?: string } = {}): Promise<void> {
    await this.empty('POST', `/containers/${seg(id)}/start`, { query: { detachKeys: options.detachKeys } });
  }

  /** Stops a container: `signal`, then SIGKILL after `t` seconds. */
  async containerStop(id: string, options: { t?: number; signal?: string } = {}): Promise<void> {
    await this.empty('POST', `/containers/${seg(id)}/stop`, { query: { t: options.t, signal: options.signal } });
  }

  async containerRestart(id: string, options: { t?: number; signal?: string } = {}): Promise<void> {
    await this.empty('POST', `/containers/${seg(id)}/restart`, { query: { t: options.t, signal: options.signal } });
  }

  async containerKill(id: string, options: { signal?: string } = {}): Promise<void> {
    await this.empty('POST', `/containers/${seg(id)}/kill`, { query: { signal: options.signal } });
  }

  async containerRemove(id: string, options: { force?: boolean; v?: boolean; link?: boolean } = {}): Promise<void> {
    await this.empty('DELETE', `/containers/${seg(id)}`, { query: { force: options.force, v: options.v, link: options.link } });
  }

  async containerRename(id: string, name: string): Promise<void> {
    await this.empty('POST', `/containers/${seg(id)}/rename`, { query: { name } });
  }

  async containerPause(id: string): Promise<void> {
    await this.empty('POST', `/containers/${seg(id)}/pause`);
  }

  async containerUnpause(id: string): Promise<void> {
    await this.empty('POST', `/containers/${seg(id)}/unpause`);
  }

  async containerResize(id: string, size: { h: number; w: number }): Promise<void> {
    await this.empty('POST', `/containers/${seg(id)}/resize`, { query: size });
  }

  containerUpdate(id: string, body: ContainerUpdateBody): Promise<{ Warnings: string[] | null }> {
    return this.json('POST', `/containers/${seg(id)}/update`, { body });
  }

  containerTop(id: string, psArgs?: string): Promise<ContainerTopResponse> {
    return this.json('GET', `/containers/${seg(id)}/top`, { query: { ps_args: psArgs } });
  }

  containerChanges(id: string): Promise<ContainerChange[] | null> {
    return this.json('GET', `/containers/${seg(id)}/changes`);
  }

  containerStats(id: string): Promise<ContainerStats> {
    return this.json('GET', `/containers/${seg(id)}/stats`, { query: { stream: false } });
  }

  containerPrune(filters?: Filters): Promise<ContainerPruneResponse> {
    return this.json('POST', '/containers/prune', { query: { filters } });
  }

  /**
   * Resolves when the condition is met (default not-running). The server sends the
   * headers at once; `onHeaders` fires then, so a caller can start the container
   * only after the wait is registered (what `docker run` does).
   */
  async containerWait(
    id: string,
    options: { condition?: WaitCondition; onHeaders?: () => void; signal?: AbortSignal } = {},
  ): Promise<ContainerWaitResponse> {
    const res = await this.send('POST', `/containers/${seg(id)}/wait`, { query: { condition: options.condition } }, options.signal);
    options.onHeaders?.();
    const text = await readText(res);
    try {
      return JSON.parse(text) as ContainerWaitResponse;
    } catch (err) {
      throw new BerthError('Internal', `wait for ${id}: connection closed before the exit status arrived`, { cause: err });
    }
  }

  /** A container's logs: multiplexed frames unless the container has a TTY. */
  async containerLogs(id: string, options: LogsOptions = {}): Promise<http.IncomingMessage> {
    return this.send('GET', `/containers/${seg(id)}/logs`, {
      query: {
        follow: options.follow,
        stdout: options.stdout ?? true,
        stderr: options.stderr ?? true,
        since: options.since?.toString(),
        until: options.until?.toString(),
        timestamps: options.timestamps,
        tail: options.tail?.toString(),
      },
    });
  }

  /** Attaches to a container over a hijacked (Upgrade: tcp) connection. */
  containerAttach(id: string, options: AttachOptions = {}): Promise<HijackedStream> {
    return this.hijack(`/containers/${seg(id)}/attach`, {
      query: {
        stream: options.stream ?? true,
        stdin: options.stdin,
        stdout: options.stdout ?? true,
        stderr: options.stderr ?? true,
        logs: options.logs,
        detachKeys: options.detachKeys,
      },
    });
  }

  /** A container's filesystem as a tar stream. */
  containerExport(id: string): Promise<Readable> {
    return this.send('GET', `/containers/${seg(id)}/export`);
  }

  /** `HEAD /containers/{id}/archive`: the stat of a path in the container (its last link not followed). */
  async containerStatPath(id: string, path: string): Promise<ContainerPathStat> {
    const res = await this.send('HEAD', `/containers/${seg(id)}/archive`, { query: { path } });
    await drain(res);
    return pathStatHeader(res);
  }

  /** `GET /containers/{id}/archive`: a tar of a path in the container (`dir/.`: its contents) and the path's stat. */
  async containerGetArchive(id: string, path: string): Promise<{ stat: ContainerPathStat; tar: Readable }> {
    const res = await this.send('GET', `/containers/${seg(id)}/archive`, { query: { path } });
    return { stat: pathStatHeader(res), tar: res };
  }

  /** `PUT /containers/{id}/archive`: extracts a tar into the directory `path` of the container. */
  async containerPutArchive(id: string, path: string, tar: Readable, options: { noOverwriteDirNonDir?: boolean; copyUIDGID?: boolean } = {}): Promise<void> {
    await this.empty('PUT', `/containers/${seg(id)}/archive`, {
      query: { path, noOverwriteDirNonDir: options.noOverwriteDirNonDir, copyUIDGID: options.copyUIDGID },
      body: tar,
      contentType: 'application/x-tar',
    });
  }
}
