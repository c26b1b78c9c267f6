import { InvalidArgumentError, NotFoundError, UnsupportedError } from '@berth/image-format';
import type {
  AttachedStdio,
  AttachOptions,
  ContainerSpec,
  ContainerState,
  ContainerStats,
  DeleteOptions,
  DriverPlatform,
  ExecProcess,
  ExecSpec,
  RestoredExec,
  ExitStatus,
  Isolation,
  LogEntry,
  LogOptions,
  OpenedRoot,
  ProcessTable,
  RuntimeDriver,
  RuntimeEvent,
  TerminalSize,
} from '@berth/runtime';
import { currentIsolationHost, defaultIsolation, resolveIsolation, type IsolationHost, type WindowsIsolationMode } from './isolation.js';

export interface RuntimeRegistryOptions {
  /** The host the isolation rules see (tests inject a Windows one). Default: this machine. */
  host?: IsolationHost;
  /** daemon.json `exec-opts` (`isolation=hyperv` changes the Windows default). */
  execOpts?: readonly string[];
}

/** What a container is created with: the HostConfig.Isolation to store, and who runs it. */
export interface DriverChoice {
  /** As dockerd stores it: as given on Linux (`""` or `default`), the daemon's default filled in on Windows. */
  isolation: string;
  driver: RuntimeDriver;
}

/**
 * The runtime drivers the composition root registered, seen by the engine as one driver:
 * create() hands a container to the driver whose platforms cover its image's OS and its
 * isolation, and every later call goes to the driver that owns the id. A restarted daemon
 * finds the owners again by asking each driver.
 */
export class RuntimeRegistry implements RuntimeDriver {
  readonly name: string;
  readonly platforms: readonly DriverPlatform[];
  readonly hostOs: 'linux' | 'windows';
  /** What `default` means on Windows (docker info's Isolation); none on Linux. */
  readonly defaultIsolation: '' | WindowsIsolationMode;
  private readonly host: IsolationHost;
  private readonly drivers: RuntimeDriver[];
  private readonly owners = new Map<string, RuntimeDriver>();

  constructor(drivers: Record<string, RuntimeDriver>, options: RuntimeRegistryOptions = {}) {
    this.drivers = Object.values(drivers);
    const first = this.drivers[0];
    if (!first) throw new InvalidArgumentError('the engine needs a runtime driver (EngineOptions.drivers.runtimes)');
    this.host = options.host ?? currentIsolationHost();
    this.hostOs = this.host.platform === 'win32' ? 'windows' : 'linux';
    this.defaultIsolation = defaultIsolation(this.host, options.execOpts);
    this.name = first.name;
    this.platforms = this.drivers.flatMap((d) => d.platforms);
  }

  /** The registered drivers, the default (first) first. */
  registered(): readonly RuntimeDriver[] {
    return this.drivers;
  }

  /**
   * Checks HostConfig.Isolation as dockerd does and finds the driver for an image of
   * `imageOs` (the host's when not known yet); throws what dockerd answers when either
   * cannot be.
   */
  choose(isolation: string | undefined, imageOs?: string): DriverChoice {
    let stored = resolveIsolation(isolation, this.host, this.defaultIsolation);
    const os = imageOs || this.hostOs;
    let effective: Isolation = this.hostOs === 'linux' ? 'default' : (stored.toLowerCase() as WindowsIsolationMode);
    // a Linux image on a Windows host runs in a Linux utility VM (LCOW): Hyper-V by nature
    if (this.hostOs === 'windows' && os === 'linux' && !isolation?.trim().replace(/^default$/i, '')) {
      effective = 'hyperv';
      stored = 'hyperv';
    }
    const driver = this.drivers.find((d) => d.platforms.some((p) => p.os === os && p.isolation === effective));
    if (!driver) {
      const how = effective === 'default' ? '' : ` with ${effective} isolation`;
      throw new InvalidArgumentError(`image operating system "${os}" cannot be used on this platform: no runtime driver runs ${os} containers${how}`);
    }
    return { isolation: stored, driver };
  }

  async create(spec: ContainerSpec): Promise<ContainerState> {
    const { driver } = this.choose(spec.isolation, spec.platform?.os);
    const state = await driver.create(spec);
    this.owners.set(spec.id, driver);
    return state;
  }

  start(id: string): Promise<void> {
    return this.call(id, (d) => d.start(id));
  }

  exec(id: string, spec: ExecSpec): Promise<ExecProcess> {
    return this.call(id, (d) => d.exec(id, spec));
  }

  attach(id: string, options?: AttachOptions): Promise<AttachedStdio> {
    return this.call(id, (d) => d.attach(id, options));
  }

  resize(id: string, size: TerminalSize): Promise<void> {
    return this.call(id, (d) => d.resize(id, size));
  }

  kill(id: string, signal?: string | number): Promise<void> {
    return this.call(id, (d) => d.kill(id, signal));
  }

  wait(id: string, options?: { signal?: AbortSignal }): Promise<ExitStatus> {
    return this.call(id, (d) => d.wait(id, options));
  }

  async delete(id: string, options?: DeleteOptions): Promise<void> {
    await this.call(id, (d) => d.delete(id, options));
    this.owners.delete(id);
  }

  state(id: string): Promise<ContainerState> {
    return this.call(id, (d) => d.state(id));
  }

  async list(): Promise<ContainerState[]> {
    const lists = await Promise.all(this.drivers.map(async (d) => {
      const states = await d.list();
      for (const s of states) this.owners.set(s.id, d);
      return states;
    }));
    return lists.flat();
  }

  stats(id: string): Promise<ContainerStats> {
    return this.call(id, (d) => d.stats(id));
  }

  processes(id: string, options?: { psArgs?: string }): Promise<ProcessTable> {
    return this.call(id, (d) => d.processes(id, options));
  }

  openRoot(id: string): Promise<OpenedRoot> {
    return this.call(id, (d) => d.openRoot(id));
  }

  async *logs(id: string, options?: LogOptions): AsyncIterable<LogEntry> {
    const driver = await this.owner(id);
    yield* driver.logs(id, options);
  }

  pause(id: string): Promise<void> {
    return this.call(id, (d) => {
      if (!d.pause) throw new UnsupportedError(`the ${d.name} runtime cannot pause containers`);
      return d.pause(id);
    });
  }

  unpause(id: string): Promise<void> {
    return this.call(id, (d) => {
      if (!d.unpause) throw new UnsupportedError(`the ${d.name} runtime cannot pause containers`);
      return d.unpause(id);
    });
  }

  restoredExecs(id: string): Promise<RestoredExec[]> {
    return this.call(id, async (d) => (await d.restoredExecs?.(id)) ?? []);
  }

  releaseNetwork(id: string): Promise<void> {
    return this.call(id, async (d) => {
      await d.releaseNetwork?.(id);
    });
  }

  async *events(options?: { signal?: AbortSignal }): AsyncIterable<RuntimeEvent> {
    if (this.drivers.length === 1) {
      yield* this.drivers[0]!.events(options);
      return;
    }
    yield* mergeEvents(this.drivers.map((d) => d.events(options)));
  }

  async close(): Promise<void> {
    await Promise.all(this.drivers.map((d) => d.close()));
  }

  private async call<T>(id: string, fn: (driver: RuntimeDriver) => Promise<T>): Promise<T> {
    return fn(await this.owner(id));
  }

  private async owner(id: string): Promise<RuntimeDriver> {
    if (this.drivers.length === 1) return this.drivers[0]!;
    const known = this.owners.get(id);
    if (known) return known;
    for (const d of this.drivers) {
      const found = await d.state(id).then(() => true, (e: unknown) => {
        if (e instanceof NotFoundError) return false;
        throw e;
      });
      if (found) {
        this.owners.set(id, d);
        return d;
      }
    }
    throw new NotFoundError(`no such container in any runtime: ${id}`);
  }
}

/** Every driver's events in one stream, in arrival order; ends when all have ended. */
async function* mergeEvents(sources: AsyncIterable<RuntimeEvent>[]): AsyncIterable<RuntimeEvent> {
  const iterators = sources.map((s) => s[Symbol.asyncIterator]());
  const pending = new Map<number, Promise<{ index: number; result: IteratorResult<RuntimeEvent> }>>();
  const pull = (index: number): void => {
    pending.set(index, iterators[index]!.next().then((result) => ({ index, result })));
  };
  iterators.forEach((_, i) => pull(i));
  try {
    while (pending.size > 0) {
      const { index, result } = await Promise.race(pending.values());
      if (result.done) {
        pending.delete(index);
        continue;
      }
      pull(index);
      yield result.value;
    }
  } finally {
    // not awaited: a driver's stream waiting for its next event would hold the return back
    for (const it of iterators) void Promise.resolve(it.return?.()).catch(() => undefined);
  }
}
