/**
 * Container networking for driver-linux: bridge networks, port publishing and
 * per-container network namespaces through the CNI reference plugins (bridge +
 * host-local for the veth and address, portmap for published ports, from /usr/lib/cni)
 * and iptables rules Berth installs once per network (forwarding, isolation,
 * masquerading), so a container without published ports costs no iptables change.
 *
 * ```ts
 * const net = new CniNetworkManager({ stateDir: '/var/lib/berth/network' });
 * await net.sweep(liveContainerIds);                       // at startup
 * await net.createNetwork({ name: 'app' });                // subnet from the pool
 * const { netnsPath, interfaces, ports } = await net.attach(id, {
 *   mode: 'bridge', networks: [{ name: 'app' }],
 *   ports: [{ hostIp: '127.0.0.1', hostPort: 8080, containerPort: 80, protocol: 'tcp' }],
 * });                                                      // runtime joins netnsPath
 * await net.connect(id, { name: 'other', aliases: ['db'] }); // a running container: eth1
 * await net.disconnect(id, 'other');
 * await net.detach(id);                                    // on container delete
 * ```
 *
 * Host-wide effects: the bridge plugin turns on net.ipv4.ip_forward; portmap sets
 * route_localnet on the bridge (so 127.0.0.1:hostPort works); Berth networks are
 * accepted, isolated from each other and masqueraded through the BERTH-FORWARD /
 * BERTH-ISOLATION (filter) and BERTH-POSTROUTING (nat) chains.
 *
 * Name resolution: containers on a user network get the network's gateway as their
 * nameserver; an embedded DNS server (in this process, UDP port 53 on each user network
 * gateway with attached containers) answers container names and aliases of the networks
 * the asking container is on, and forwards other names to the host's nameservers.
 */
export { CniNetworkManager } from './manager.js';
export { CniPluginError, CNI_VERSION } from './cni.js';
export type {
  AttachedInterface,
  AttachOptions,
  AttachResult,
  CniNetworkManagerOptions,
  ConnectOptions,
  CreateNetworkOptions,
  EmbeddedDnsOptions,
  NetworkDetails,
  NetworkInfo,
  NetworkMode,
  PortMapping,
  PublishedPort,
} from './types.js';
