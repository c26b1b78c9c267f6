import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { DetachOptions, NetworkDriver } from '@berth/runtime';
import { DeferredCleanups } from './cleanup.js';
import { CniExecutor } from './cni.js';
import { connectContainer, disconnectContainer } from './connect.js';
import { ContainerDns } from './dns/container-dns.js';
import type { AttachmentRecord } from './endpoint-records.js';
import { attachContainer, CONTAINER_ID_RE, detachContainer, type EndpointContext } from './endpoints.js';
import { Mutex } from './mutex.js';
import { removeNetns } from './netns.js';
import { BridgeNetworks } from './networks.js';
import { JsonRecordDir } from './state-store.js';
import type {
  AttachedInterface,
  AttachOptions,
  AttachResult,
  CniNetworkManagerOptions,
  ConnectOptions,
  CreateNetworkOptions,
  NetworkDetails,
  NetworkInfo,
} from './types.js';

/**
 * Container networking through the CNI reference plugins (bridge + host-local IPAM,
 * portmap) and iptables rules installed per network.
 *
 * Contract:
 * - Networks are Linux bridges with an IPv4 subnet that overlaps neither a host route nor
 *   another network of this manager. Their bridge is created (with the gateway address)
 *   by createNetwork and deleted by removeNetwork, never in between.
 * - attach() pins a named netns per container at `<netnsDir>/<containerId>` and returns
 *   its path for the runtime to join. It checks published ports before touching
 *   anything. A failed attach is rolled back.
 * - detach() undoes an attach from the persisted record (so it works after a crash),
 *   cleans the iptables chains the plugins leave behind, and is idempotent.
 * - One manager per stateDir (the daemon's lock guarantees it).
 *
 * The work is in networks.ts (bridges, subnets), endpoints.ts (attach, detach),
 * connect.ts, plugin-steps.ts (the CNI chain), port-allocation.ts and dns/.
 */
export class CniNetworkManager implements NetworkDriver {
  readonly stateDir: string;
  readonly netnsDir: string;
  readonly pluginDirs: string[];
  readonly defaultNetworkName: string;
  private readonly networks: BridgeNetworks;
  private readonly attachments: JsonRecordDir<AttachmentRecord>;
  private readonly lock = new Mutex();
  private readonly dns: ContainerDns | undefined;
  private readonly endpoints: EndpointContext;

  constructor(options: CniNetworkManagerOptions) {
    this.stateDir = options.stateDir;
    this.netnsDir = options.netnsDir ?? '/run/berth/netns';
    this.pluginDirs = options.pluginDirs ?? ['/usr/lib/cni', '/opt/cni/bin'];
    this.networks = new BridgeNetworks(this.stateDir, options);
    this.defaultNetworkName = this.networks.defaultNetwork.name;
    // every attach lists all attachments (ports, addresses): kept in memory, this manager
    // being its state dir's only writer (one per daemon root)
    this.attachments = new JsonRecordDir(join(this.stateDir, 'attachments'), { cached: true });
    if (options.dns !== false) {
      this.dns = new ContainerDns(options.dns ?? {}, this.defaultNetworkName, (key) => this.networks.byKey(key));
    }
    this.endpoints = {
      stateDir: this.stateDir,
      netnsDir: this.netnsDir,
      networks: this.networks,
      attachments: this.attachments,
      cni: new CniExecutor(this.pluginDirs),
      lock: this.lock,
      dns: this.dns,
      detaching: new Set<string>(),
      cleanups: new DeferredCleanups(options.onCleanupError ?? ((id, err) => process.emitWarning(`network cleanup of ${id}: ${err.message}`))),
    };
  }

  // ---------------------------------------------------------------- networks

  /** Creates a bridge network; refuses a taken name or bridge, or an overlapping subnet. */
  createNetwork(options: CreateNetworkOptions): Promise<NetworkInfo> {
    return this.lock.run(() => this.networks.createLocked(options));
  }

  /** Creates the default network from the constructor options unless it exists. */
  ensureDefaultNetwork(): Promise<NetworkInfo> {
    return this.lock.run(() => this.networks.ensureDefaultLocked());
  }

  /** Deletes a network with its bridge and leftover rules; refused while containers are attached. */
  async removeNetwork(name: string): Promise<void> {
    // the bridge goes with no veth of a detached container left on it
    await this.endpoints.cleanups.settled();
    return this.lock.run(async () => this.networks.removeLocked(name, await this.attachments.values()));
  }

  async listNetworks(): Promise<NetworkInfo[]> {
    return this.networks.values();
  }

  async inspectNetwork(name: string): Promise<NetworkDetails> {
    return this.networks.inspect(name, await this.attachments.values());
  }

  // ---------------------------------------------------------------- containers

  /**
   * Gives a container its network: `host` returns no namespace; `none` a namespace with
   * loopback only; `bridge` joins the named networks (default network when none) and
   * publishes the ports. A port in use fails with ConflictError before anything changes.
   */
  attach(containerId: string, options: AttachOptions): Promise<AttachResult> {
    return attachContainer(this.endpoints, containerId, options);
  }

  /**
   * Undoes attach: CNI DEL in reverse order with the recorded prevResults, iptables
   * leftovers, the netns. Idempotent; an unknown container only loses a stray netns.
   * With `deferCleanup` the netns goes in the background (cleanup.ts).
   */
  detach(containerId: string, options: DetachOptions = {}): Promise<void> {
    return detachContainer(this.endpoints, containerId, options);
  }

  /** Resolves when the namespaces of deferred detaches so far are gone (or given up on). */
  cleanupsSettled(): Promise<void> {
    return this.endpoints.cleanups.settled();
  }

  /** Joins an attached (bridge mode) container to one more network while it runs. */
  connect(containerId: string, options: ConnectOptions): Promise<AttachedInterface> {
    return connectContainer(this.endpoints, containerId, options);
  }

  /** Takes an attached container off one network while it runs. */
  disconnect(containerId: string, network: string): Promise<void> {
    return disconnectContainer(this.endpoints, containerId, network);
  }

  /** The namespace recorded for a container (for `--network container:<id>`), if any. */
  async netnsPathOf(containerId: string): Promise<string | undefined> {
    if (!CONTAINER_ID_RE.test(containerId)) return undefined;
    return (await this.attachments.get(containerId))?.netnsPath;
  }

  // ---------------------------------------------------------------- DNS

  /**
   * Loads the recorded attachments into the DNS server and opens its listeners (after a
   * daemon restart: containers kept running). Cheap when there are none.
   */
  async restoreDns(): Promise<void> {
    if (!this.dns) return;
    await this.dns.restore(await this.attachments.values());
  }

  /** Who answers to which names besides aliases (EmbeddedDnsOptions.containerNames, set later). */
  setContainerNames(hook: (containerId: string) => string[] | undefined): void {
    this.dns?.setNamesOf(hook);
  }

  /** Closes the DNS listeners (the daemon stops; containers keep running). */
  close(): void {
    this.dns?.close();
  }

  /** The addresses the DNS server listens on now (gateways of user networks with containers). */
  dnsListening(): string[] {
    return this.dns?.listening() ?? [];
  }

  /**
   * Startup recovery: recreates missing bridges of recorded networks, detaches every
   * recorded container not in `liveContainerIds` and removes namespaces in netnsDir that
   * no record owns. Returns the container ids it cleaned.
   */
  async sweep(liveContainerIds: Iterable<string>): Promise<string[]> {
    const live = new Set(liveContainerIds);
    const cleaned: string[] = [];
    await this.endpoints.cleanups.settled();
    await this.networks.restoreBridges();
    for (const id of await this.attachments.keys()) {
      if (live.has(id)) continue;
      await this.detach(id).catch(() => undefined);
      cleaned.push(id);
    }
    let files: string[] = [];
    try {
      files = await readdir(this.netnsDir);
    } catch {
      files = [];
    }
    const recorded = new Set(await this.attachments.keys());
    for (const f of files) {
      if (live.has(f) || recorded.has(f) || !CONTAINER_ID_RE.test(f)) continue;
      await removeNetns(join(this.netnsDir, f)).catch(() => undefined);
      if (!cleaned.includes(f)) cleaned.push(f);
    }
    await this.restoreDns();
    return cleaned;
  }
}
