/**
 * @berth/registry-client — an OCI Distribution client: endpoints (https verified, certs.d
 * CAs, insecure and loopback registries over http), auth (Bearer tokens, Basic, Docker's
 * config and credential helpers, Berth's own 0600 store), pull into a BlobSink with
 * resume, retries, progress and in-order layer hand-off, and push from a BlobSource.
 *
 * Errors are @berth/image-format's typed errors: NotFoundError (`manifest unknown: <ref>`),
 * UnauthorizedError (`unauthorized: ...`), DigestMismatchError, BerthError with code
 * Unavailable / Forbidden / Unsupported.
 */
export { RegistryClient } from './client.js';
export type { RegistryClientOptions } from './client.js';
export type { PullOptions, PullResult, ResolveOptions, ResolvedImage } from './pull.js';
export type { PushOptions, PushResult, PushManifest } from './push.js';
export type { FetchedManifest } from './manifests.js';
export type { BlobSink, BlobSource, ExpectedBlob, ProgressEvent, BlobState } from './sink.js';
export { FileBlobStore } from './file-blob-store.js';
export type { RetryOptions } from './retry.js';
export type { ProxyOptions } from './session.js';
export { DEFAULT_CERTS_DIR, resolveEndpoint, isLoopbackRegistry } from './endpoint.js';
export type { EndpointOptions, RegistryEndpoint } from './endpoint.js';
export { parseWWWAuthenticate } from './auth/challenge.js';
export type { AuthChallenge } from './auth/challenge.js';
export type { Credentials, CredentialStore, WritableCredentialStore } from './credentials/store.js';
export { ChainCredentialStore, StaticCredentialStore, describeCredentials } from './credentials/store.js';
export { DockerConfigCredentialStore, defaultDockerConfigPath } from './credentials/docker-config.js';
export { FileCredentialStore } from './credentials/file-store.js';
