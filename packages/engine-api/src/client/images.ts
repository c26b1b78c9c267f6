import type { Readable } from 'node:stream';
import type { AuthConfig, Filters, IdResponse, JsonMessage } from '../types/common.js';
import type { ContainerConfig } from '../types/container.js';
import type { ImageDeleteItem, ImageHistoryItem, ImageInspect, ImagePruneResponse, ImageSummary } from '../types/image.js';
import { EngineConnection, encodeAuth, progress, seg } from './connection.js';

/** `/images/...` and `/commit`: pull, push, list, tag, remove, save, load, import, commit (build: build.ts). */
export class ImageCalls extends EngineConnection {
  /** Pulls an image; iterate the progress messages (an `error` message throws). */
  async *imagePull(reference: string, options: { tag?: string; platform?: string; auth?: AuthConfig } = {}): AsyncGenerator<JsonMessage> {
    const res = await this.send('POST', '/images/create', {
      query: { fromImage: reference, tag: options.tag, platform: options.platform },
      headers: { 'X-Registry-Auth': encodeAuth(options.auth) },
    });
    yield* progress(res);
  }

  /** Pushes `name` (optionally only `tag`); iterate the progress messages. */
  async *imagePush(name: string, options: { tag?: string; platform?: string; auth?: AuthConfig } = {}): AsyncGenerator<JsonMessage> {
    const res = await this.send('POST', `/images/${seg(name)}/push`, {
      query: { tag: options.tag, platform: options.platform },
      headers: { 'X-Registry-Auth': encodeAuth(options.auth) },
    });
    yield* progress(res);
  }

  imageList(options: { all?: boolean; filters?: Filters; digests?: boolean; sharedSize?: boolean; manifests?: boolean } = {}): Promise<ImageSummary[]> {
    return this.json('GET', '/images/json', {
      query: {
        all: options.all,
        filters: options.filters,
        digests: options.digests,
        'shared-size': options.sharedSize,
        manifests: options.manifests,
      },
    });
  }

  imageInspect(name: string): Promise<ImageInspect> {
    return this.json('GET', `/images/${seg(name)}/json`);
  }

  imageHistory(name: string): Promise<ImageHistoryItem[]> {
    return this.json('GET', `/images/${seg(name)}/history`);
  }

  async imageTag(name: string, repo: string, tag?: string): Promise<void> {
    await this.empty('POST', `/images/${seg(name)}/tag`, { query: { repo, tag } });
  }

  imageRemove(name: string, options: { force?: boolean; noprune?: boolean } = {}): Promise<ImageDeleteItem[]> {
    return this.json('DELETE', `/images/${seg(name)}`, { query: { force: options.force, noprune: options.noprune } });
  }

  imagePrune(filters?: Filters): Promise<ImagePruneResponse> {
    return this.json('POST', '/images/prune', { query: { filters } });
  }

  /** `docker save`: a docker-archive tar stream of the named images. */
  imageSave(names: string[], options: { platform?: string } = {}): Promise<Readable> {
    return this.send('GET', '/images/get', { query: { names, platform: options.platform } });
  }

  /** `docker load`: sends a docker-archive (or OCI layout) tar; iterate the messages. */
  async *imageLoad(tar: Readable, options: { quiet?: boolean } = {}): AsyncGenerator<JsonMessage> {
    const res = await this.send('POST', '/images/load', {
      query: { quiet: options.quiet ?? false },
      body: tar,
      contentType: 'application/x-tar',
    });
    yield* progress(res);
  }

  /** `docker import`: a rootfs tar becomes a one-layer image. */
  async *imageImport(tar: Readable, options: { repo?: string; tag?: string; message?: string; changes?: string[]; platform?: string } = {}): AsyncGenerator<JsonMessage> {
    const res = await this.send('POST', '/images/create', {
      query: {
        fromSrc: '-',
        repo: options.repo,
        tag: options.tag,
        message: options.message,
        changes: options.changes,
        platform: options.platform,
      },
      body: tar,
      contentType: 'application/x-tar',
    });
    yield* progress(res);
  }

  /** `docker commit`: the container's changes become a new image. */
  commit(
    container: string,
    options: { repo?: string; tag?: string; comment?: string; author?: string; pause?: boolean; changes?: string[]; config?: ContainerConfig } = {},
  ): Promise<IdResponse> {
    return this.json('POST', '/commit', {
      query: {
        container,
        repo: options.repo,
        tag: options.tag,
        comment: options.comment,
        author: options.author,
        pause: options.pause,
        changes: options.changes,
      },
      body: options.config ?? {},
    });
  }
}
