import type { EndpointRequest, NetworkCreateOptions } from '@berth/runtime';
import type { PortMapping, PublishedPort } from './ports.js';

export type { PortMapping, PublishedPort } from './ports.js';

/** A bridge network Berth manages (persisted in the manager's stateDir). */
export interface NetworkInfo {
  /** 64 hex characters, like Docker's network IDs. */
  id: string;
  name: string;
  driver: 'bridge';
  /** Linux bridge device (at most 15 characters). */
  bridge: string;
  /** IPv4 CIDR, e.g. 10.90.0.0/24. */
  subnet: string;
  gateway: string;
  /** The part of the subnet dynamic addresses come from (Docker's IPRange); fixed ones may lie anywhere. */
  ipRange?: string;
  /** Addresses of the subnet never given to a container (Docker's AuxiliaryAddresses). */
  auxAddresses?: string[];
  /** IPv6 prefix (Docker's EnableIPv6), with its gateway on the bridge and its own range. */
  subnet6?: string;
  gateway6?: string;
  ipRange6?: string;
  /** No masquerading and no default route: containers only reach each other. */
  internal: boolean;
  labels: Record<string, string>;
  /** ISO 8601. */
  created: string;
}

/** A network plus the containers attached to it (Docker's network inspect `Containers`). */
export interface NetworkDetails extends NetworkInfo {
  containers: { containerId: string; ifname: string; ip: string; prefixLen: number; ip6?: string; prefixLen6?: number; mac: string; aliases: string[]; hostname?: string }[];
}

/** What a network is made from: the contract's options (`bridge` defaults to `berth` + 8 hex characters here). */
export type CreateNetworkOptions = NetworkCreateOptions;

export type NetworkMode = 'bridge' | 'host' | 'none';

export interface AttachOptions {
  /** `host`: share the host's namespace; `none`: a namespace with loopback only. */
  mode: NetworkMode;
  /** For `bridge`: the networks to join, in order (eth0, eth1, ...); empty means the default network. */
  networks?: EndpointOptions[];
  /** Published on the first non-internal network; ignored for `host` and `none`. */
  ports?: PortMapping[];
  hostname?: string;
  /**
   * Where the container's `hosts` file (bind-mounted on /etc/hosts) lives: connect and
   * disconnect add and remove its address lines in place.
   */
  hostFilesDir?: string;
  /**
   * Called once the namespace exists, before the CNI plugins run: a runtime may create the
   * container in it meanwhile (the plugins only have to finish before its process starts).
   */
  onNamespace?: (netnsPath: string) => void;
}

/** A container's endpoint on one network (the contract's request; `mac` defaults to the kernel's random one). */
export type EndpointOptions = EndpointRequest;

/** One more network for an attached container (`docker network connect`). */
export type ConnectOptions = EndpointOptions;

export interface AttachedInterface {
  network: string;
  ifname: string;
  ip: string;
  prefixLen: number;
  gateway: string;
  /** On a network with an IPv6 prefix. */
  ip6?: string;
  prefixLen6?: number;
  gateway6?: string;
  mac: string;
}

export interface AttachResult {
  /** The namespace the runtime must join; absent for `host` mode. */
  netnsPath?: string;
  interfaces: AttachedInterface[];
  /** The published ports as set up (host port 0 replaced by the one chosen). */
  ports: PublishedPort[];
  /**
   * The container's resolv.conf nameservers when it is on a user network: the embedded
   * DNS (the first user network's gateway). Absent: keep the host's.
   */
  nameservers?: string[];
}

/** Docker's embedded DNS on user networks; never on the default network (as Docker's default bridge). */
export interface EmbeddedDnsOptions {
  /** Nameservers other names go to. Default: the host's /etc/resolv.conf (loopback ones too). */
  upstreams?: string[];
  /** Per upstream try before SERVFAIL. Default 2000 ms. */
  forwardTimeoutMs?: number;
  /**
   * The names a container answers to on every user network it is on, besides its
   * aliases (case-insensitive); `undefined` while it must not resolve at all (stopped).
   * Default: its hostname, its id and the id's first 12 characters.
   */
  containerNames?: (containerId: string) => string[] | undefined;
}

export interface CniNetworkManagerOptions {
  /** Where network definitions, attachment records and IPAM leases live. */
  stateDir: string;
  /** Searched in order for CNI plugins. Default ['/usr/lib/cni', '/opt/cni/bin']. */
  pluginDirs?: string[];
  /** Where container namespaces are pinned. Default '/run/berth/netns'. */
  netnsDir?: string;
  /** The network `bridge` mode joins when no network is named. Default berth / berth0 / 10.90.0.0/24. */
  defaultNetwork?: { name?: string; bridge?: string; subnet?: string; gateway?: string };
  /** Pool user networks get a subnet from when none is given. Default 10.90.0.0/16 split into /24s. */
  subnetPool?: { base: string; prefixLen: number };
  /** The embedded DNS on user networks' gateways (UDP port 53); `false` turns it off. Default on. */
  dns?: EmbeddedDnsOptions | false;
  /** Told when the background part of a deferred detach fails or times out. Default: a process warning. */
  onCleanupError?: (containerId: string, err: Error) => void;
}
