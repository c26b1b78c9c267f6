import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { ConflictError, NotFoundError, type Descriptor, type Digest } from '@berth/image-format';
import { FileContentStore, LayerChainUnpacker, OverlaySnapshotter, applyLayer, createDiff, mayMakeDeviceNodes, unpackLayer, type Snapshotter } from '@berth/layer-store';
import { DockerConfigCredentialStore, RegistryClient, StaticCredentialStore } from '@berth/registry-client';
import { RuntimeRegistry } from './drivers/runtime-registry.js';
import { defaultBridgeFromBip } from './default-bridge.js';
import type { EngineConfig, EngineDrivers, EngineOptions } from './config.js';
import type { RegistryAuth } from './docker-types.js';
import type { ContainerService, EventService, ImageService, NetworkService, SystemService, VolumeService } from './services.js';
import { RootLock } from './state/lock.js';
import { openEngineDb, type Db } from './state/db.js';
import { EventBus } from './events.js';
import { LocalVolumes } from './volumes.js';
import { containerDnsNames, Networks } from './networks.js';
import type { NetworkDriver } from '@berth/runtime';
import { Containers } from './containers/service.js';
import { parseSize } from './containers/log-config.js';
import { ContainerTable, type ContainerRecord } from './containers/record.js';
import { BackgroundReleases } from './containers/background-releases.js';
import { Images } from './images/service.js';
import { PluginStore } from './plugins/store.js';
import { ImageTable } from './images/table.js';
import { SnapshotterPort } from './adapters/snapshots.js';
import { buildBusyboxLayout } from './builtin/busybox.js';
import { ENGINE_VERSION, System } from './system.js';
import { createBuilder } from './build/create.js';
import type { BuildService } from './build/types.js';
import { diskUsage } from './fsutil.js';
import { readRegistryHosts } from './registry-hosts.js';

/** Layers of one pull applied at once (each into its own detached snapshot). */
const UNPACK_CONCURRENCY = 6;

/** What the runtime creates in a container's rootfs to mount its own files over. */
const CONTAINER_MOUNT_POINTS = ['etc/hostname', 'etc/hosts', 'etc/resolv.conf'];

/**
 * One engine per root. `open` takes the root's lock (`<root>/berth.lock`; a second open of
 * the same root fails with Conflict while the first holds it), opens `<root>/berth.db`,
 * sweeps leftovers, reconciles containers with the driver (exit codes of those that exited
 * while nobody watched; running ones adopted) and applies restart policies.
 */
export class Engine {
  readonly root: string;
  readonly runRoot: string;
  readonly images: ImageService;
  readonly containers: ContainerService;
  readonly volumes: VolumeService;
  readonly networks: NetworkService;
  readonly events: EventService;
  readonly system: SystemService;
  /** Docker's classic builder (`POST /build`). */
  readonly builder: BuildService;
  /** Docker's managed plugins (local ones: created, inspected, configured, removed). */
  readonly plugins: PluginStore;

  private constructor(
    opts: EngineOptions,
    private readonly parts: {
      lock: RootLock;
      db: Db;
      content: FileContentStore;
      snapshotter: Snapshotter;
      driver: RuntimeRegistry;
      containers: Containers;
      images: Images;
      volumes: LocalVolumes;
      networks: Networks;
      events: EventBus;
      system: System;
      registry: RegistryClient;
      builder: BuildService;
      plugins: PluginStore;
    },
  ) {
    this.root = opts.root;
    this.runRoot = opts.runRoot ?? '/run/berth';
    this.images = parts.images;
    this.containers = parts.containers;
    this.volumes = parts.volumes;
    this.networks = parts.networks;
    this.events = parts.events;
    this.system = parts.system;
    this.builder = parts.builder;
    this.plugins = parts.plugins;
  }

  static async open(opts: EngineOptions): Promise<Engine> {
    const root = opts.root;
    const runRoot = opts.runRoot ?? '/run/berth';
    const config: EngineConfig = opts.config ?? {};
    await mkdir(root, { recursive: true, mode: 0o711 });
    await mkdir(runRoot, { recursive: true, mode: 0o711 });
    const lock = RootLock.acquire(join(root, 'berth.lock'));
    try {
      for (const d of ['containers', 'volumes', 'tmp']) await mkdir(join(root, d), { recursive: true });
      await sweepTemp(root);
      const db = openEngineDb(root);
      const content = await FileContentStore.open(root, { db });
      // image layers (debootstrap roots) carry dev/console, dev/null...: made as dockerd does when it runs as root
      const privileged = mayMakeDeviceNodes();
      const events = new EventBus();
      const defaultBridge = defaultBridgeFromBip(config.bip ?? '10.89.0.1/24');
      const drivers: EngineDrivers =
        typeof opts.drivers === 'function'
          ? await opts.drivers({ root, runRoot, config, defaultNetwork: { name: 'bridge', bridge: config.bridge ?? 'berth0', ...defaultBridge } })
          : opts.drivers;
      const snapshotter = drivers.snapshotter ?? (await OverlaySnapshotter.open(root, { db }));
      // every container runs on the registered driver that covers its image's OS and isolation
      const driver = new RuntimeRegistry(drivers?.runtimes ?? {}, { ...(config['exec-opts'] ? { execOpts: config['exec-opts'] } : {}), ...(opts.host ? { host: opts.host } : {}) });
      const manager = drivers.network;
      // Asked per DNS query, long after open: the table exists by then.
      manager?.setContainerNames(containerDnsNames((id) => {
        const r = table.get(id);
        return r ? { id: r.id, name: r.name, ...(r.runtimeId ? { runtimeId: r.runtimeId } : {}), running: ['running', 'paused'].includes(r.state.status) } : undefined;
      }));
      const networks = new Networks(db, manager, events, { Subnet: defaultBridge.subnet, Gateway: defaultBridge.gateway });
      const table = new ContainerTable(db);
      const imageTable = new ImageTable(db);
      let containersRef: Containers | undefined;
      const volumes = new LocalVolumes(db, join(root, 'volumes'), events, (name) => containersRef?.volumeUsers(name) ?? []);
      // containerd-style hosts.toml mirrors per registry, and daemon.json's registry-mirrors
      // for Docker Hub (pull-through mirrors, as dockerd uses them)
      const registryOptions = {
        insecureRegistries: config['insecure-registries'] ?? [],
        mirrors: await readRegistryHosts(config['registry-hosts-dir'], config['registry-mirrors'] ?? []),
      };
      const defaultRegistry = new RegistryClient({ ...registryOptions, credentials: new DockerConfigCredentialStore() });
      const releases = new BackgroundReleases();
      const images: Images = new Images({
        released: () => releases.idle(),
        table: imageTable,
        storage: {
          content,
          snapshotter: snapshotter,
          unpack: (layer: Descriptor, parent: Digest | undefined, diffId?: Digest) => unpackLayer(content, snapshotter, layer, parent, { privileged, ...(diffId ? { diffId } : {}) }),
          chainUnpacker: (o) => new LayerChainUnpacker(content, snapshotter, { concurrency: UNPACK_CONCURRENCY, privileged, ...(o.onLayerDone ? { onLayerDone: o.onLayerDone } : {}) }),
          // The files the runtime bind-mounts into every container are not the container's
          // changes (Docker keeps them in an init layer): a commit leaves them out.
          diff: (key: string) => createDiff(content, snapshotter, key, { exclude: CONTAINER_MOUNT_POINTS }),
          applyLayer: (input, dir, o) => applyLayer(input, dir, o),
        },
        events,
        root,
        ...(config['max-concurrent-downloads'] ? { maxConcurrentDownloads: config['max-concurrent-downloads'] } : {}),
        // BERTH_PULL_STREAM_APPLY=1 applies layers from the download stream; measured here it
        // cost ~0.15 s more CPU per pull and was no faster, so layers are applied once stored.
        applyWhileDownloading: process.env.BERTH_PULL_STREAM_APPLY === '1',
        hostOs: { os: driver.hostOs, runs: (os) => driver.platforms.some((p) => p.os === os) },
        usedBy: (imageId) => table.usingImage(imageId).map((id) => {
          const r = table.get(id);
          return { id, running: !!r && ['running', 'paused', 'restarting'].includes(r.state.status) };
        }),
        commitSource: (ref) => {
          const r = table.resolve(ref);
          return {
            id: r.id,
            imageId: r.imageId,
            snapshotKey: r.snapshotKey,
            config: r.config,
            running: r.state.status === 'running',
            live: ['running', 'paused', 'restarting'].includes(r.state.status),
            pause: (): Promise<void> => containers.pause(r.id),
            unpause: (): Promise<void> => containers.unpause(r.id),
          };
        },
        registry: (auth?: RegistryAuth, domain?: string) => {
          if (!auth || (!auth.username && !auth.identitytoken && !auth.registrytoken)) {
            return { client: defaultRegistry, release: async () => undefined };
          }
          const key = auth.serveraddress?.replace(/^https?:\/\//, '').replace(/\/.*$/, '') || domain || 'docker.io';
          const client = new RegistryClient({
            ...registryOptions,
            credentials: new StaticCredentialStore({
              [key]: {
                ...(auth.username ? { username: auth.username } : {}),
                ...(auth.password ? { password: auth.password } : {}),
                ...(auth.identitytoken ? { identityToken: auth.identitytoken } : {}),
                ...(auth.registrytoken ? { registryToken: auth.registrytoken } : {}),
              },
            }),
          });
          return { client, release: () => client.close() };
        },
        buildBusybox: (dir) => buildBusyboxLayout(dir),
      });
      const containers: Containers = new Containers({
        table,
        driver,
        snapshots: new SnapshotterPort(snapshotter),
        images,
        networks,
        volumes,
        events,
        root,
        storageDriverName: snapshotter.name === 'overlay' ? 'overlay2' : snapshotter.name,
        hostOs: driver.hostOs,
        isolation: (value, imageOs) => driver.choose(value, imageOs).isolation,
        defaultStopTimeout: config['shutdown-timeout'] ?? 10,
        ...(config['log-opts']?.['max-size']
          ? { logLimits: { maxSize: parseSize(config['log-opts']['max-size']), maxFiles: Math.max(1, Number(config['log-opts']['max-file'] ?? 1)) } }
          : {}),
        ...(manager ? { afterStart: (r: ContainerRecord) => fillEndpoints(manager, r) } : {}),
        releases,
        ...(config.dns?.length ? { defaultDns: config.dns } : {}),
        ...(config['init-path'] ? { initPath: config['init-path'] } : {}),
      });
      containersRef = containers;
      networks.attachments = {
        released: () => releases.idle(),
        attached: (name) =>
          table
            .all()
            .filter((r) => r.networks[name])
            .map((r) => ({ id: r.id, name: r.name, running: ['running', 'paused', 'restarting'].includes(r.state.status), endpoint: r.networks[name]! })),
        setEndpoint: (ref, name, ep) => {
          const r = table.resolve(ref);
          const running = ['running', 'paused', 'restarting'].includes(r.state.status);
          if (!running) {
            if (ep) {
              if (r.networks[name]) throw new ConflictError(`endpoint with name ${r.name} already exists in network ${name}`);
              for (const k of ['none', 'host']) delete r.networks[k];
              r.networks[name] = ep;
              if (ep.MacAddress) r.macs = { ...r.macs, [name]: ep.MacAddress };
              if ((r.hostConfig.NetworkMode ?? 'bridge') === 'none') r.hostConfig.NetworkMode = name;
            } else {
              if (!r.networks[name]) throw new NotFoundError(`container ${r.id} is not connected to network ${name}`);
              delete r.networks[name];
              if (r.macs) delete r.macs[name];
              // No endpoint left: it starts with loopback only, as in Docker (not on the default network).
              if (Object.keys(r.networks).length === 0) r.hostConfig.NetworkMode = 'none';
            }
            table.save(r);
          }
          return { running };
        },
        container: (ref) => {
          const r = table.resolve(ref);
          const running = ['running', 'paused', 'restarting'].includes(r.state.status);
          return { id: r.id, name: r.name, runtimeId: r.runtimeId ?? r.id, running, networkMode: r.hostConfig.NetworkMode ?? 'bridge', networks: Object.keys(r.networks) };
        },
        saveEndpoint: (id, name, ep, configuredMac) => {
          const r = table.get(id);
          if (!r) throw new NotFoundError(`No such container: ${id}`);
          if (r.macs) delete r.macs[name];
          // a MAC asked for at connect is the endpoint's at every later start too
          if (ep && configuredMac) r.macs = { ...r.macs, [name]: configuredMac };
          if (ep) {
            r.networks[name] = ep;
            if (r.hostConfig.NetworkMode === 'none') r.hostConfig.NetworkMode = name;
          } else {
            delete r.networks[name];
            if (Object.keys(r.networks).length === 0) r.hostConfig.NetworkMode = 'none';
          }
          table.save(r);
        },
      };
      const idFile = join(root, 'engine-id');
      const engineId = await readFile(idFile, 'utf8').catch(async () => {
        const id = randomBytes(16).toString('hex');
        await writeFile(idFile, id);
        return id;
      });
      const system = new System({
        root,
        id: engineId.trim(),
        runtimes: driver.registered().map((d) => d.name),
        osType: driver.hostOs,
        storageDriver: snapshotter.name === 'overlay' ? 'overlay2' : snapshotter.name,
        isolation: driver.defaultIsolation,
        insecureRegistries: config['insecure-registries'] ?? [],
        mirrors: config['registry-mirrors'] ?? [],
        counts: () => {
          const all = table.all();
          const count = (s: string[]): number => all.filter((r) => s.includes(r.state.status)).length;
          return { containers: all.length, running: count(['running', 'restarting']), paused: count(['paused']), stopped: count(['exited', 'created', 'dead']), images: imageTable.all().length };
        },
        listeners: () => events.listeners,
        df: async () => {
          const imgs = await images.list();
          const ctrs = await containers.list({ all: true, size: true });
          const vols = (await volumes.list()).Volumes;
          for (const v of vols) v.UsageData = { Size: await diskUsage(v.Mountpoint), RefCount: containers.volumeUsers(v.Name).length };
          return { LayersSize: imgs.reduce((a, i) => a + i.Size, 0), Images: imgs, Containers: ctrs, Volumes: vols, BuildCache: [] };
        },
      });
      const builder = createBuilder({
        root,
        db,
        content,
        snapshotter,
        privileged,
        imageTable,
        containerTable: table,
        images,
        containers,
        ...(config['build-fetch-timeout'] ? { fetchTimeoutMs: config['build-fetch-timeout'] * 1000 } : {}),
      });
      const plugins = await PluginStore.open(root, events, ENGINE_VERSION);
      const engine = new Engine(opts, { lock, db, content, snapshotter, driver, containers, images, volumes, networks, events, system, registry: defaultRegistry, builder, plugins });
      await containers.reconcile(opts.restartOnOpen ?? true);
      await networks.restore();
      return engine;
    } catch (err) {
      lock.release();
      throw err;
    }
  }

  /** Stops watching and releases the lock; containers keep running (conmon owns them). */
  async close(): Promise<void> {
    const p = this.parts;
    await p.containers.released();
    p.containers.close();
    await p.networks.cleanupsSettled();
    p.networks.close();
    await p.registry.close().catch(() => undefined);
    await p.driver.close().catch(() => undefined);
    p.snapshotter.close();
    p.db.close();
    p.lock.release();
  }
}

async function fillEndpoints(manager: NetworkDriver, r: ContainerRecord): Promise<void> {
  for (const [name, ep] of Object.entries(r.networks)) {
    if (name === 'host' || name === 'none') continue;
    // the predefined `bridge` is the driver's default network (Windows: HCN's `nat`)
    const details = await manager.inspectNetwork(name === 'bridge' ? manager.defaultNetworkName : name).catch(() => undefined);
    const c = details?.containers.find((x) => x.containerId === (r.runtimeId ?? r.id));
    if (!details || !c) continue;
    ep.IPAddress = c.ip;
    ep.IPPrefixLen = c.prefixLen;
    ep.MacAddress = c.mac;
    ep.Gateway = details.gateway;
    if (c.ip6) {
      ep.GlobalIPv6Address = c.ip6;
      ep.GlobalIPv6PrefixLen = c.prefixLen6 ?? 64;
      ep.IPv6Gateway = details.gateway6 ?? '';
    }
    ep.EndpointID ||= randomBytes(32).toString('hex');
  }
}

/** Removes what an interrupted load/commit/export left in the root. */
async function sweepTemp(root: string): Promise<void> {
  const { readdir } = await import('node:fs/promises');
  for (const name of await readdir(root).catch(() => [] as string[])) {
    if (!name.startsWith('tmp-')) continue;
    const p = join(root, name);
    await import('node:child_process').then(({ execFileSync }) => {
      try {
        execFileSync('umount', ['-l', p], { stdio: 'ignore' });
      } catch {
        // not mounted
      }
    });
    await rm(p, { recursive: true, force: true });
  }
}

