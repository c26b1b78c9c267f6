// The engine's contract with berthd: one interface per Docker API area. Every method
// throws typed errors from @berth/image-format (NotFoundError -> 404, ConflictError -> 409,
// InvalidArgumentError -> 400, UnauthorizedError -> 401, UnsupportedError -> 501) whose
// messages are Docker's own, so routes map `err.code` to a status and send `{message}`.
import type { Readable, Writable } from 'node:stream';
import type {
  ContainerCreateBody,
  ContainerCreateResponse,
  ContainerInspect,
  ContainerStats,
  ContainerSummary,
  ContainerTop,
  ContainerWaitResponse,
  EventMessage,
  ExecCreateBody,
  ExecInspect,
  Filters,
  ImageDeleteItem,
  ImageHistoryItem,
  ImageInspect,
  ImageSummary,
  NetworkCreateBody,
  NetworkInspect,
  EndpointSettings,
  HostConfig,
  OutputChunk,
  ProgressMessage,
  RegistryAuth,
  SystemDf,
  SystemInfo,
  Volume,
  VolumeCreateBody,
  WaitCondition,
} from './docker-types.js';

export interface PullOptions {
  /** `os/arch[/variant]`; default the host's. */
  platform?: string;
  auth?: RegistryAuth;
  /** Docker's JSON progress lines (`Pulling fs layer`, `Downloading`, `Pull complete`, `Digest: ...`, `Status: ...`). */
  onProgress?: (msg: ProgressMessage) => void;
  signal?: AbortSignal;
}

export interface PushOptions {
  auth?: RegistryAuth;
  onProgress?: (msg: ProgressMessage) => void;
  signal?: AbortSignal;
}

export interface CommitOptions {
  /** Repository (and optionally `:tag`) for the new image; untagged when absent. */
  repo?: string;
  tag?: string;
  comment?: string;
  author?: string;
  /** Dockerfile instructions applied to the config: `ENV a=b`, `CMD ["x"]`, `LABEL k=v`, `WORKDIR /x`, `USER u`, `EXPOSE 80`, `ENTRYPOINT [...]`. */
  changes?: string[];
  /** Pause the container while its filesystem is diffed (Docker's default true). */
  pause?: boolean;
  /** Config overrides merged over the container's config. */
  config?: Partial<ContainerCreateBody>;
}

export interface ImportOptions {
  /** `repo[:tag]` to give the imported image. */
  ref?: string;
  message?: string;
  changes?: string[];
  platform?: string;
}

export interface ImageService {
  /** Pulls `ref` (e.g. `busybox`, `localhost:5000/x:1`, `x@sha256:...`) and returns the local image. */
  pull(ref: string, opts?: PullOptions): Promise<ImageInspect>;
  /** Pushes a local tag to its registry; resolves with the pushed manifest digest. */
  push(ref: string, opts?: PushOptions): Promise<{ digest: string; size: number; tag: string }>;
  /** Gives image `source` (name, short ID or ID) the reference `target`. */
  tag(source: string, target: string): Promise<void>;
  /**
   * Removes a tag, or the image when its last tag goes. Refuses (Conflict) an image that a
   * container uses, or one referenced by several tags when given by ID, unless `force`.
   */
  remove(ref: string, opts?: { force?: boolean; noprune?: boolean }): Promise<ImageDeleteItem[]>;
  list(opts?: { all?: boolean; filters?: Filters; digests?: boolean }): Promise<ImageSummary[]>;
  /** By name, `name@digest`, full ID (`sha256:...`) or unique ID prefix. NotFound: `No such image: <ref>`. */
  inspect(ref: string): Promise<ImageInspect>;
  history(ref: string): Promise<ImageHistoryItem[]>;
  /** `docker save`: one tar with an OCI layout and Docker's manifest.json. */
  save(refs: string[]): Readable;
  /**
   * `docker load`: a docker-archive or OCI layout tar. `onMessage` gets Docker's load stream
   * (`Loading layer` progress unless `quiet`, then `{stream}` lines); resolves with the stream's text lines.
   */
  load(archive: Readable, opts?: { quiet?: boolean; onMessage?: (msg: ProgressMessage) => void }): Promise<string[]>;
  /** Loads an OCI image layout directory (e.g. a fixture) and tags it `ref` (default: its index annotation). */
  loadLayout(dir: string, ref?: string): Promise<ImageInspect>;
  /** `docker import`: a rootfs tarball becomes a one-layer image. Resolves with its ID. */
  importRootfs(tar: Readable, opts?: ImportOptions): Promise<string>;
  /** `docker commit`: the container's writable layer becomes a new layer on top of its image. */
  commit(container: string, opts?: CommitOptions): Promise<{ Id: string }>;
  prune(opts?: { filters?: Filters }): Promise<{ ImagesDeleted: ImageDeleteItem[]; SpaceReclaimed: number }>;
  /**
   * Makes a built-in image available without a registry: `busybox` builds
   * `busybox:latest` from the host's static /bin/busybox when it is missing.
   */
  ensureBuiltin(name: 'busybox'): Promise<ImageInspect>;
  /** The image as a registry holds it (what containerd's CRI reports), where Docker's inspect shows the unpacked image. */
  packed(ref: string): Promise<PackedImage>;
}

export interface PackedImage {
  id: string;
  /** The image config's bytes as stored (its digest is the ID). */
  configBytes: string;
  /** The chain ID of its layers (null for an image with none). */
  chainId: string | null;
  /** Bytes of its blobs as pulled: the index it came through, its manifest, config and (compressed) layers. */
  size: number;
}

export interface StopOptions {
  /** Default the container's StopSignal, else SIGTERM. */
  signal?: string;
  /** Seconds before SIGKILL; default the container's StopTimeout, else 10. */
  timeout?: number;
  /**
   * Once it exited (or if it was not running), free what its run holds in the runtime
   * driver: network attachment and published ports, rootfs mount, cgroup. The next start
   * makes them anew. The CRI's StopPodSandbox needs it (kubelet expects the pod's network
   * torn down); the log file stays.
   */
  release?: boolean;
}

export interface LogsOptions {
  follow?: boolean;
  stdout?: boolean;
  stderr?: boolean;
  /** Unix seconds (fractional allowed). */
  since?: number;
  until?: number;
  /** Last N lines; 'all' or undefined for all. */
  tail?: number | 'all';
  timestamps?: boolean;
  signal?: AbortSignal;
}

export interface AttachOptions {
  stdin?: boolean;
  stdout?: boolean;
  stderr?: boolean;
  /** Stream live output (otherwise only the `logs` replay). */
  stream?: boolean;
  /** Replay the log first. */
  logs?: boolean;
  detachKeys?: string;
}

/**
 * A live connection to a container's (or exec's) stdio. `output` is an object-mode Readable
 * of OutputChunk; with `tty` every chunk is `stdout` and carries raw terminal bytes (route
 * writes them unframed), without it routes add Docker's 8-byte frame header.
 * `output` ends when the process exits (or on `close()`).
 */
export interface AttachSession {
  tty: boolean;
  stdin?: Writable;
  output: Readable;
  close(): void;
  /** An exec's client left with the detach keys: the process runs on. */
  detached?: () => boolean;
}

export interface ExecStartOptions {
  detach?: boolean;
  tty?: boolean;
  beforeStart?: () => void | Promise<void>;
}

export interface ContainerCreateOptions {
  name?: string;
  platform?: string;
  logPath?: string;
  /** The caller's own id (64 hex digits, not taken); otherwise a new one. */
  id?: string;
  /**
   * The container only holds namespaces for others to join (a pod's sandbox): the runtime
   * driver may run a pause process of its own instead of the container's command
   * (ContainerSpec.namespaceHolder).
   */
  namespaceHolder?: boolean;
}

export interface ContainerService {
  /**
   * Settles when every auto-removed container's runtime state, rootfs and directory are
   * released (`wait(removed)` resolves before that, as soon as the container is gone).
   */
  released(): Promise<void>;
  /**
   * Creates a container; `name` must match `[a-zA-Z0-9][a-zA-Z0-9_.-]+`. Conflict on a used name (Docker's message). NotFound: `No such image: <ref>`.
   * `logPath`: the output log goes there (conmon's k8s-file format, the CRI log format) and is the caller's: removing the container leaves it.
   */
  create(body: ContainerCreateBody, opts?: ContainerCreateOptions): Promise<ContainerCreateResponse>;
  /** Starts a created or exited container; a running one is a no-op (Docker answers 304: see `started`). */
  start(id: string): Promise<{ started: boolean }>;
  /** Sends the stop signal, then SIGKILL after the timeout; resolves once it exited. `stopped:false` when it was not running (304). */
  stop(id: string, opts?: StopOptions): Promise<{ stopped: boolean }>;
  /** Conflict when not running: `Container <id> is not running`. */
  kill(id: string, opts?: { signal?: string }): Promise<void>;
  restart(id: string, opts?: StopOptions): Promise<void>;
  pause(id: string): Promise<void>;
  unpause(id: string): Promise<void>;
  /**
   * Conflict for a running container unless `force` (then it is killed). `volumes` also removes its anonymous volumes.
   * `releaseInBackground`: resolves once the container is gone from the API; its runtime state and rootfs are freed after (as auto-remove does).
   */
  remove(id: string, opts?: { force?: boolean; volumes?: boolean; link?: boolean; releaseInBackground?: boolean }): Promise<void>;
  /**
   * Resolves when the condition holds. The wait is registered synchronously, before the
   * returned promise is first awaited, so `wait(id,'next-exit')` then `start(id)` never misses the exit.
   */
  wait(id: string, condition?: WaitCondition, signal?: AbortSignal): Promise<ContainerWaitResponse>;
  /** Object-mode Readable of OutputChunk read from the log file. Ends at EOF unless `follow`, then at exit or abort. */
  logs(id: string, opts?: LogsOptions): Promise<Readable>;
  attach(id: string, opts?: AttachOptions): Promise<AttachSession>;
  resize(id: string, size: { h: number; w: number }): Promise<void>;
  execCreate(id: string, body: ExecCreateBody): Promise<{ Id: string }>;
  /**
   * With `detach` resolves with no session once the process started. The process has a TTY
   * when the exec was created with one; `tty` (the start body's, as Docker) only says
   * whether the output is raw (true) or framed (false; default: the create's Tty).
   * `beforeStart` runs once the exec is known startable, just before its process starts.
   */
  execStart(execId: string, opts?: ExecStartOptions): Promise<AttachSession | undefined>;
  execInspect(execId: string): Promise<ExecInspect>;
  execResize(execId: string, size: { h: number; w: number }): Promise<void>;
  rename(id: string, newName: string): Promise<void>;
  /**
   * `docker update`: the restart policy applies at once; resource limits (Memory, MemorySwap,
   * NanoCpus, CpuShares, CpuQuota, CpuPeriod, PidsLimit, CpusetCpus) are stored and take
   * effect at the next start (a Warning says so for a running container).
   */
  update(id: string, body: Partial<HostConfig>): Promise<{ Warnings: string[] }>;
  inspect(id: string, opts?: { size?: boolean }): Promise<ContainerInspect>;
  /** The container's writable layer on disk: bytes and inodes of its own files (the CRI's writable_layer stats). */
  writableLayer(id: string): Promise<{ bytes: number; inodes: number }>;
  /**
   * Filters: id, name, label (`k` or `k=v`), status, ancestor, exited, before, since, volume, network.
   * Containers labelled with a namespace (NAMESPACE_LABEL, e.g. the CRI's `k8s.io`) are left
   * out unless a label filter is given, as containerd keeps namespaces apart.
   */
  list(opts?: { all?: boolean; limit?: number; size?: boolean; filters?: Filters }): Promise<ContainerSummary[]>;
  prune(opts?: { filters?: Filters }): Promise<{ ContainersDeleted: string[]; SpaceReclaimed: number }>;
  /** One sample (`stream:false`) or an object-mode Readable of samples every second. */
  stats(id: string, opts?: { stream?: boolean; signal?: AbortSignal }): Promise<ContainerStats | Readable>;
  /** `docker export`: the container's filesystem (image + writable layer) as a tar stream. */
  export(id: string): Promise<Readable>;
  top(id: string, opts?: { psArgs?: string }): Promise<ContainerTop>;
  /** `docker diff`: what the container changed in its filesystem (Kind 0 modified, 1 added, 2 deleted). */
  changes(id: string): Promise<{ Path: string; Kind: 0 | 1 | 2 }[]>;
  /** `HEAD /containers/{id}/archive`: Docker's path stat (for the X-Docker-Container-Path-Stat header, base64 JSON). NotFound: `Could not find the file <path> in container <id>`. */
  archiveStat(id: string, path: string): Promise<ArchivePathStat>;
  /** `GET /containers/{id}/archive` (`docker cp ctr:path -`): a tar of the path (a trailing `/.` gives the directory's contents). */
  getArchive(id: string, path: string): Promise<{ stat: ArchivePathStat; tar: Readable }>;
  /**
   * `PUT /containers/{id}/archive`: extracts a tar (plain or gzip) into the directory `path`
   * (running or stopped container; volumes and binds included). Entries never land outside
   * the container (links resolve within its root; a running container is paused meanwhile).
   * NotFound `Could not find the file <path> in container <id>`; InvalidArgument (dockerd
   * 20.10 answers 500) when `path` is not a directory, the rootfs or the mount there is
   * read-only, or extracting fails (`Error processing tar file(exit status 1): ...`, as
   * dockerd words it). Emits `extract-to-dir`. `copyUIDGID`: entries owned by Config.User.
   */
  putArchive(id: string, path: string, tar: Readable, opts?: { noOverwriteDirNonDir?: boolean; copyUIDGID?: boolean }): Promise<void>;
}

/** Docker's container path stat; `mode` uses Go's os.FileMode bits (directory = 1<<31). */
export interface ArchivePathStat {
  name: string;
  size: number;
  mode: number;
  mtime: string;
  linkTarget: string;
}

export interface VolumeService {
  /** Idempotent for an existing name with the same driver; anonymous (64-hex name) when Name is empty. */
  create(body?: VolumeCreateBody): Promise<Volume>;
  /** Filters: name, label, dangling, driver. */
  list(opts?: { filters?: Filters }): Promise<{ Volumes: Volume[]; Warnings: string[] }>;
  inspect(name: string): Promise<Volume>;
  /** Conflict when in use: `remove <name>: volume is in use - [<ids>]`. */
  remove(name: string, opts?: { force?: boolean }): Promise<void>;
  /** Removes unused anonymous volumes (all unused ones with filter `all=true`). */
  prune(opts?: { filters?: Filters }): Promise<{ VolumesDeleted: string[]; SpaceReclaimed: number }>;
}

export interface NetworkService {
  create(body: NetworkCreateBody): Promise<{ Id: string; Warning: string }>;
  /** Filters: name, id, driver, label, type (builtin|custom), dangling. */
  list(opts?: { filters?: Filters }): Promise<NetworkInspect[]>;
  inspect(idOrName: string): Promise<NetworkInspect>;
  /** Forbidden for the predefined `bridge`, `host`, `none`; Conflict while containers are connected. */
  remove(idOrName: string): Promise<void>;
  connect(idOrName: string, body: { Container: string; EndpointConfig?: EndpointSettings }): Promise<void>;
  disconnect(idOrName: string, body: { Container: string; Force?: boolean }): Promise<void>;
  prune(opts?: { filters?: Filters }): Promise<{ NetworksDeleted: string[] }>;
}

export interface EventSubscription extends AsyncIterable<EventMessage> {
  /** Ends the iteration. */
  close(): void;
}

export interface EventService {
  /**
   * Past events since `since` (kept in memory, newest 1000) then live ones until `until`
   * (unix seconds) or `close()`. Filters: type, event/action, container, image, volume,
   * network, label, daemon.
   */
  subscribe(opts?: { since?: number; until?: number; filters?: Filters }): EventSubscription;
  /** Number of live subscribers (for /info NEventsListener). */
  readonly listeners: number;
}

export interface SystemService {
  info(): Promise<SystemInfo>;
  df(): Promise<SystemDf>;
  /** Engine version figures for `/version`'s component list. */
  version(): { Version: string; Os: string; Arch: string; KernelVersion: string; GitCommit: string; GoVersion: string; BuildTime: string };
}
