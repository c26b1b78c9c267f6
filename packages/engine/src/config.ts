import type { Snapshotter } from '@berth/layer-store';
import type { NetworkDriver, RuntimeDriver } from '@berth/runtime';
import type { IsolationHost } from './drivers/isolation.js';

/** Engine settings (berthd reads them from /etc/berth/daemon.json; names follow Docker's daemon.json). */
export interface EngineConfig {
  /** Registries reached over plain http (127.0.0.0/8 and localhost always are, as in Docker). */
  'insecure-registries'?: string[];
  /** Mirrors of docker.io (tried before it, as Docker's). */
  'registry-mirrors'?: string[];
  /** containerd's hosts directory: `<dir>/<registry host>/hosts.toml` lists a registry's mirrors (berthd: /etc/berth/certs.d). */
  'registry-hosts-dir'?: string;
  /** OCI runtime: `crun` (default) or `runc`, or an absolute path. */
  runtime?: string;
  /** Address/prefix of the default `bridge` network's bridge, as Docker's (`10.89.0.1/24`); a bare subnet works too (default 10.89.0.0/24, refused if it overlaps a route). */
  bip?: string;
  /** Bridge device name of the default network (default `berth0`). */
  bridge?: string;
  /** Concurrent layer downloads per pull (default 3). */
  'max-concurrent-downloads'?: number;
  /** json-file-like rotation of container logs. */
  'log-opts'?: { 'max-size'?: string; 'max-file'?: string };
  /** Pool user networks get their subnets from (default 10.90.0.0/16 in /24s). */
  'network-pool'?: { base: string; prefixLen: number };
  /**
   * Nameservers the embedded DNS of user networks forwards other names to, and those of
   * default-bridge containers that name none (Docker's `dns`); default the host's
   * /etc/resolv.conf ones.
   */
  dns?: string[];
  /** The binary `--init` runs as the container's PID 1 (default: docker-init, else catatonit). */
  'init-path'?: string;
  /**
   * Berth's own: seconds `ADD <url>` waits for a server's answer, or for the next bytes of
   * the body, before the build fails (default 30; dockerd waits forever).
   */
  'build-fetch-timeout'?: number;
  /** Default stop timeout in seconds (10). */
  'shutdown-timeout'?: number;
  /** Runtime options as dockerd's; `isolation=process|hyperv` sets the Windows default isolation. */
  'exec-opts'?: string[];
}

export interface EngineOptions {
  /** State root (default /var/lib/berth): berth.db, content/, snapshots/, containers/, volumes/. */
  root: string;
  /** Runtime state (default /run/berth): conmon sockets, netns, exit files. */
  runRoot?: string;
  config?: EngineConfig;
  /** Apply restart policies (`always`, `unless-stopped`, `on-failure`) at open. Default true. */
  restartOnOpen?: boolean;
  /**
   * The host the isolation rules and `docker info` see (default this machine): berthd's
   * composition root passes a Windows one when it composes for Windows (its tests do so on Linux).
   */
  host?: IsolationHost;
  /**
   * The drivers containers run on, from the composition root (berthd's: driver-linux's
   * LinuxDriver and CniNetworkManager), or a function making them for this root. The
   * engine closes them on close().
   */
  drivers: EngineDrivers | ((context: DriverContext) => EngineDrivers | Promise<EngineDrivers>);
}

/** A registry of drivers. */
export interface EngineDrivers {
  /** Runtime drivers by name (`linux`, ...); every container runs on the first one for now. */
  runtimes: Record<string, RuntimeDriver>;
  /** Bridge networks, published ports and name resolution; without one only `host` and `none` networking work. */
  network?: NetworkDriver;
  /**
   * Where image layers and container filesystems live, when the drivers need their own
   * (Windows: layer folders HCS imports); default the engine's overlay snapshotter.
   */
  snapshotter?: Snapshotter;
}

/** What a driver factory gets: where the engine keeps its state, its config, and the default network as the config describes it. */
export interface DriverContext {
  root: string;
  runRoot: string;
  config: EngineConfig;
  /** Docker's `bridge` network from `bip` and `bridge` (device berth0 unless set). */
  defaultNetwork: { name: string; bridge: string; subnet: string; gateway: string };
}
