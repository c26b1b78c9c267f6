import type { PortMapping } from './spec.js';

/**
 * The network driver contract: what the engine (and a runtime driver of the same
 * platform) asks of container networking. Checked by `runNetworkConformanceSuite` from
 * `@berth/runtime/testsuite`. Implemented by driver-linux's `CniNetworkManager` and by
 * `FakeNetworkDriver` from `@berth/runtime/fake`.
 */

/** A network the driver manages; it survives the driver object (the driver keeps its own state). */
export interface NetworkInfo {
  /** 64 hex characters, like Docker's network IDs. */
  id: string;
  name: string;
  /** IPv4 CIDR, e.g. 10.90.0.0/24. */
  subnet: string;
  gateway: string;
  /** The part of the subnet dynamic addresses come from (Docker's IPRange); fixed ones may lie anywhere. */
  ipRange?: string;
  /** Addresses of the subnet never given to a container (Docker's AuxiliaryAddresses). */
  auxAddresses?: string[];
  /** IPv6 prefix (Docker's EnableIPv6), with its gateway and its own range. */
  subnet6?: string;
  gateway6?: string;
  ipRange6?: string;
  /** Containers on it only reach each other (no way out, no published ports). */
  internal: boolean;
  labels: Record<string, string>;
  /** ISO 8601. */
  created: string;
}

/** One container's endpoint on a network, as inspect shows it. */
export interface NetworkEndpoint {
  /** The id the container was attached under (the runtime driver's id of its run). */
  containerId: string;
  ip: string;
  prefixLen: number;
  /** On a network with an IPv6 prefix. */
  ip6?: string;
  prefixLen6?: number;
  mac: string;
  aliases: string[];
  hostname?: string;
}

/** A network plus the containers attached to it (Docker's network inspect `Containers`). */
export interface NetworkDetails extends NetworkInfo {
  containers: NetworkEndpoint[];
}

export interface NetworkCreateOptions {
  name: string;
  /** IPv4 CIDR; taken from the driver's pool when omitted. */
  subnet?: string;
  /** Defaults to the subnet's first address. */
  gateway?: string;
  /** The host-side device name, for drivers that have one (Docker's com.docker.network.bridge.name); others ignore it. */
  bridge?: string;
  /** A CIDR inside the subnet that dynamic addresses come from. */
  ipRange?: string;
  /** Addresses of the subnet to keep from containers. */
  auxAddresses?: string[];
  /** An IPv6 prefix besides the IPv4 subnet (no IPv6 pool: it must be given). */
  subnet6?: string;
  /** Defaults to the prefix's first address. */
  gateway6?: string;
  ipRange6?: string;
  internal?: boolean;
  labels?: Record<string, string>;
}

/** A container's endpoint on one network. */
export interface EndpointRequest {
  name: string;
  aliases?: string[];
  /** A fixed address in the network's subnet. */
  ipv4Address?: string;
  /** A fixed address in the network's IPv6 prefix. */
  ipv6Address?: string;
  /** The interface's MAC address (default: a driver-chosen one). */
  mac?: string;
  /** Names only this container resolves on this network, each answering as `target` does (Docker's endpoint Links). */
  links?: { alias: string; target: string }[];
}

/** A port as published: wildcard host address as '', protocol filled in, host port 0 replaced by the one chosen. */
export type PublishedPort = Required<PortMapping>;

/** How `NetworkDriver.detach` goes about it. */
export interface DetachOptions {
  /**
   * Two phases. detach resolves once what another container could clash with is free:
   * published host ports and their forwarding rules, the addresses, the DNS names (the
   * container is no longer attached; the same id may attach again). The rest, which
   * nobody can clash with (the namespace, the links), goes on in the background, bounded
   * in time, its failure logged and never thrown; `cleanupsSettled` says when it is over.
   * A driver with no such rest does it all at once.
   */
  deferCleanup?: boolean;
}

/** How a container joins the network when it is created. */
export interface EndpointOptions {
  /** `host`: the host's network, nothing to set up; `none`: loopback only; `bridge`: the named networks. */
  mode: 'bridge' | 'host' | 'none';
  /** For `bridge`: the networks to join, in order; empty means the default network. */
  networks?: EndpointRequest[];
  /** Published on the first non-internal network; ignored for `host` and `none`. */
  ports?: PortMapping[];
  hostname?: string;
  /**
   * Where the container's `hosts` and `resolv.conf` live (the runtime driver mounts them):
   * connect and disconnect keep them in step with the container's networks.
   */
  hostFilesDir?: string;
}

export interface EndpointInterface {
  network: string;
  ip: string;
  prefixLen: number;
  gateway: string;
  /** On a network with an IPv6 prefix. */
  ip6?: string;
  prefixLen6?: number;
  gateway6?: string;
  mac: string;
}

export interface EndpointAttachment {
  interfaces: EndpointInterface[];
  /** The published ports as set up. */
  ports: PublishedPort[];
  /** The container's nameservers when it is on a user network (the driver's name resolution). Absent: the host's. */
  nameservers?: string[];
}

/**
 * The names a container answers to on its user networks besides its aliases (Docker: its
 * name and short id); `undefined` while it must not resolve at all (stopped, or not the
 * container's current run).
 */
export type ContainerNamesHook = (containerId: string) => string[] | undefined;

/**
 * A container network driver. Contract:
 * - Networks: createNetwork refuses a taken name (ConflictError), an invalid or
 *   overlapping subnet; removeNetwork of an unknown name is NotFoundError and of a
 *   network with attached containers a ConflictError. The default network
 *   (`defaultNetworkName`) is made on first use or by ensureDefaultNetwork, idempotently.
 * - Endpoints: attach gives a container (by the runtime driver's id) its endpoints, each
 *   with a distinct address in the network's subnet (a fixed `ipv4Address` when asked,
 *   ConflictError when another container holds it); a second attach of the same id is a
 *   ConflictError. detach undoes it and is idempotent (an unknown id is fine); with
 *   `deferCleanup` it returns once ports, addresses and names are free (DetachOptions).
 *   connect/disconnect add or remove one network of an attached container; connecting to
 *   a network it is on is a ConflictError, disconnecting from one it is not on, or a
 *   container without attachment, NotFoundError.
 * - Published ports: host port 0 gets a free port; a host port another container
 *   publishes (same protocol, overlapping address) is a ConflictError before anything
 *   changes; detach releases them.
 * - Name resolution: on user networks (not the default one) containers resolve each
 *   other's names (the hook's, or the driver's defaults) and aliases to their address on
 *   a network they share; a name the hook says `undefined` for does not resolve.
 * - Errors are BerthError subclasses with a code.
 */
export interface NetworkDriver {
  /** The network `bridge` mode joins when none is named (Docker's `bridge`). */
  readonly defaultNetworkName: string;
  createNetwork(options: NetworkCreateOptions): Promise<NetworkInfo>;
  /** Creates the default network unless it exists. */
  ensureDefaultNetwork(): Promise<NetworkInfo>;
  removeNetwork(name: string): Promise<void>;
  listNetworks(): Promise<NetworkInfo[]>;
  inspectNetwork(name: string): Promise<NetworkDetails>;
  attach(containerId: string, options: EndpointOptions): Promise<EndpointAttachment>;
  detach(containerId: string, options?: DetachOptions): Promise<void>;
  /** Optional: resolves when the background part of every deferred detach so far is over. */
  cleanupsSettled?(): Promise<void>;
  /** One more network for an attached (bridge mode) container while it runs. */
  connect(containerId: string, options: EndpointRequest): Promise<EndpointInterface>;
  disconnect(containerId: string, network: string): Promise<void>;
  /** Replaces the names hook (the engine knows container names; the driver is made before it). */
  setContainerNames(hook: ContainerNamesHook): void;
  /** Serves the names of containers attached before this driver object existed (after a daemon restart). */
  restoreDns(): Promise<void>;
  /** Releases the driver's own resources (listeners); attachments stay. */
  close(): void;
}
