import type { Readable } from 'node:stream';
import type { AuthConfig, JsonMessage } from '../types/common.js';
import { readJsonLines } from '../stream/json-lines.js';
import { BUILD_SECRETS_HEADER, BUILD_SECRETS_HEADER_MAX, BUILD_SECRETS_ID_HEADER, checkBuildSecrets, encodeBuildSecrets, secretsToJson } from './build-secrets.js';
import { EngineConnection } from './connection.js';

/** Query options of `POST /build` (the engine's builder takes the same). */
export interface ImageBuildOptions {
  /** `name[:tag]` references given to the result. */
  tags?: string[];
  /** Path of the Dockerfile inside the context (default `Dockerfile`). */
  dockerfile?: string;
  /** `--build-arg`s; null takes the value from... nowhere here (Docker: the client's env), so it is unset. */
  buildArgs?: Record<string, string | null>;
  /** Labels added to the result (as a final `LABEL` step). */
  labels?: Record<string, string>;
  /** Build up to this stage (name or index). */
  target?: string;
  /** Run every step, ignoring the build cache. */
  noCache?: boolean;
  /** Remove a step's container once it succeeded (default true). */
  rm?: boolean;
  /** Remove step containers even when they failed. */
  forceRm?: boolean;
  /** Only the result's ID is reported. */
  quiet?: boolean;
  /** Pull the FROM images even when present. */
  pull?: boolean;
  /** Network of RUN containers (`default`/`bridge`, `none`, `host`, a network name). */
  networkMode?: string;
  /** `host:ip` lines added to the RUN containers' /etc/hosts (`--add-host`). */
  extraHosts?: string[];
  /** Images whose build history may be reused as cache (`--cache-from`); given, only they are. */
  cacheFrom?: string[];
  /** Credentials by registry for the FROM images' pulls (the X-Registry-Config header). */
  registryConfig?: Record<string, AuthConfig>;
  /** Target platform (`linux/amd64`): TARGETPLATFORM and the FROM images' platform. */
  platform?: string;
  /** Stages whose steps are run again even when cached (BuildKit's `--no-cache-filter`; Berth's `nocachefilter` query). */
  noCacheFilter?: string[];
  /**
   * `RUN --mount=type=secret` values by id (Berth's `X-Berth-Build-Secrets` header; Docker's
   * API cannot carry them outside a BuildKit session). Never stored by the builder.
   */
  secrets?: Record<string, Buffer>;
}

/** `POST /build`: the classic builder. */
export class BuildCalls extends EngineConnection {
  /**
   * `docker build` (the classic builder, `POST /build`): sends the context tar (plain or
   * gzip) and yields the JSON build stream (`{stream}` lines, `{aux:{ID}}`). A step failure is
   * yielded too, as the last message (`errorDetail.code` is a failed RUN's exit code), so the
   * caller can exit with it as docker does; an error before the build starts throws.
   */
  async *imageBuild(context: Readable, options: ImageBuildOptions = {}): AsyncGenerator<JsonMessage> {
    const secrets = options.secrets && Object.keys(options.secrets).length ? await this.secretHeader(options.secrets) : {};
    const res = await this.send('POST', '/build', {
      query: {
        t: options.tags,
        dockerfile: options.dockerfile,
        buildargs: options.buildArgs ? JSON.stringify(options.buildArgs) : undefined,
        labels: options.labels ? JSON.stringify(options.labels) : undefined,
        target: options.target,
        nocache: options.noCache,
        rm: options.rm,
        forcerm: options.forceRm,
        q: options.quiet,
        pull: options.pull,
        networkmode: options.networkMode,
        extrahosts: options.extraHosts,
        cachefrom: options.cacheFrom ? JSON.stringify(options.cacheFrom) : undefined,
        platform: options.platform,
        nocachefilter: options.noCacheFilter?.length ? JSON.stringify(options.noCacheFilter) : undefined,
      },
      body: context,
      contentType: 'application/x-tar',
      headers: {
        ...(options.registryConfig ? { 'X-Registry-Config': Buffer.from(JSON.stringify(options.registryConfig)).toString('base64url') } : {}),
        ...secrets,
      },
    });
    try {
      yield* readJsonLines<JsonMessage>(res);
    } finally {
      res.destroy();
    }
  }

  /**
   * Small secrets ride in a header; larger ones (a header holds about 16 KiB) are uploaded
   * first, and the build names the upload.
   */
  private async secretHeader(secrets: Record<string, Buffer>): Promise<Record<string, string>> {
    checkBuildSecrets(secrets);
    const encoded = encodeBuildSecrets(secrets);
    if (encoded.length <= BUILD_SECRETS_HEADER_MAX) return { [BUILD_SECRETS_HEADER]: encoded };
    const { Id } = await this.json<{ Id: string }>('POST', '/build/secrets', { body: secretsToJson(secrets) });
    return { [BUILD_SECRETS_ID_HEADER]: Id };
  }
}
