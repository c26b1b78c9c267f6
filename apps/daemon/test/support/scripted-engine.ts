import { PassThrough, Readable } from 'node:stream';
import { NotFoundError, UnsupportedError, ConflictError } from '@berth/image-format';
import type { EngineLike } from '../../src/engine-port.js';
import type { AttachSession, ContainerWaitResponse, EventMessage, ProgressMessage, SystemInfo } from '@berth/engine';

/**
 * A scripted stand-in for the engine, for tests of berthd's HTTP layer alone: it lets a
 * test decide exactly when a container "exits" or what a pull reports, so the ordering
 * traps (wait headers, 101 before start) and the framing are checked deterministically.
 * Everything the engine really does is tested through the real Engine in the e2e suites.
 */
export interface ScriptedContainer {
  id: string;
  tty: boolean;
  output: PassThrough;
  stdin: PassThrough;
  exit(code: number): void;
  waits: number;
  /** Called by start; the default does nothing (the test drives output and exit). */
  onStart?: (c: ScriptedContainer) => void;
  started: number;
  stdinAttached: boolean;
}

export function scriptedEngine(): { engine: EngineLike; containers: Map<string, ScriptedContainer>; events: (e: Partial<EventMessage>) => void; closed: () => boolean; readonly lastExecStart: unknown; setDefaultStart: (fn: (c: ScriptedContainer) => void) => void } {
  const containers = new Map<string, ScriptedContainer>();
  const waiters = new Map<string, ((r: ContainerWaitResponse) => void)[]>();
  const subs = new Set<(e: EventMessage) => void>();
  let closed = false;

  const execExit = new Map<string, number>();
  const state: { lastExecStart?: unknown } = {};
  let defaultStart: (c: ScriptedContainer) => void = () => {};
  const get = (id: string): ScriptedContainer => {
    const c = containers.get(id);
    if (!c) throw new NotFoundError(`No such container: ${id}`);
    return c;
  };

  const unsupported = (area: string) =>
    new Proxy({} as Record<string, unknown>, {
      get: (_t, prop) => () => Promise.reject(new UnsupportedError(`scripted engine: ${area}.${String(prop)}`)),
    });

  const containerService = {
    async create(body: { Image: string; Tty?: boolean }, opts?: { name?: string }) {
      if (body.Image === 'missing') throw new NotFoundError(`No such image: ${body.Image}`);
      const id = opts?.name ?? `c${containers.size}`;
      if (containers.has(id)) throw new ConflictError(`Conflict. The container name "/${id}" is already in use by container "${id}". You have to remove (or rename) that container to be able to reuse that name.`);
      const output = new PassThrough({ objectMode: true });
      const stdin = new PassThrough();
      const c: ScriptedContainer = {
        id,
        tty: body.Tty === true,
        output,
        stdin,
        waits: 0,
        started: 0,
        stdinAttached: false,
        exit(code: number) {
          output.end();
          for (const w of waiters.get(id) ?? []) w({ StatusCode: code, Error: null });
          waiters.delete(id);
        },
      };
      containers.set(id, c);
      return { Id: id, Warnings: [] };
    },
    async inspect(id: string) {
      const c = get(id);
      return { Id: c.id, Config: { Tty: c.tty } };
    },
    wait(id: string) {
      const c = get(id);
      c.waits++;
      return new Promise<ContainerWaitResponse>((resolve) => {
        const list = waiters.get(id) ?? [];
        list.push(resolve);
        waiters.set(id, list);
      });
    },
    async attach(id: string, opts?: { stdin?: boolean }): Promise<AttachSession> {
      const c = get(id);
      if (opts?.stdin) c.stdinAttached = true;
      return { tty: c.tty, stdin: c.stdin, output: c.output, close: () => {} };
    },
    async logs(id: string) {
      const c = get(id);
      return Readable.from([
        { stream: 'stdout', data: Buffer.from('out line\n'), timestamp: '2026-11-27T04:04:42.894804476+00:00' },
        { stream: 'stderr', data: Buffer.from('err line\n'), timestamp: '2026-11-27T04:04:43.000000000+00:00' },
      ].filter(() => c !== undefined));
    },
    async execCreate(id: string) {
      get(id);
      return { Id: `exec-${id}` };
    },
    async execStart(execId: string, opts: { detach?: boolean; tty?: boolean; beforeStart?: () => void | Promise<void> }): Promise<AttachSession> {
      state.lastExecStart = { detach: opts.detach, tty: opts.tty };
      await opts.beforeStart?.();
      // An exec of `cat`: echoes stdin to stdout, ends with it, exits 9.
      const stdin = new PassThrough();
      const output = new PassThrough({ objectMode: true });
      stdin.on('data', (d: Buffer) => output.write({ stream: 'stdout', data: d }));
      stdin.on('end', () => {
        execExit.set(execId, 9);
        output.end();
      });
      return { tty: false, stdin, output, close: () => {} };
    },
    async execInspect(execId: string) {
      const code = execExit.get(execId);
      return { ID: execId, Running: code === undefined, ExitCode: code ?? null, ContainerID: execId.slice(5), Pid: 1 };
    },
    async start(id: string) {
      const c = get(id);
      c.started++;
      (c.onStart ?? defaultStart)(c);
      return { started: true };
    },
  };

  const engine = {
    containers: new Proxy(containerService, {
      get: (t, prop) => (prop in t ? t[prop as keyof typeof t] : () => Promise.reject(new UnsupportedError(`scripted engine: containers.${String(prop)}`))),
    }),
    images: new Proxy(
      {
        async pull(ref: string, opts: { onProgress?: (m: ProgressMessage) => void }) {
          if (ref.startsWith('nothere')) throw new NotFoundError(`pull access denied for ${ref}, repository does not exist or may require 'docker login'`);
          opts.onProgress?.({ status: `Pulling from ${ref}`, id: 'latest' });
          if (ref.startsWith('broken')) {
            opts.onProgress?.({ status: 'Pulling fs layer', id: 'abc123' });
            throw new Error('unexpected EOF');
          }
          opts.onProgress?.({ status: 'Status: Downloaded newer image for ' + ref });
          return {};
        },
      } as Record<string, unknown>,
      { get: (t, prop) => t[prop as string] ?? (() => Promise.reject(new UnsupportedError(`scripted engine: images.${String(prop)}`))) },
    ),
    volumes: unsupported('volumes'),
    networks: unsupported('networks'),
    events: {
      get listeners() {
        return subs.size;
      },
      subscribe() {
        const queue: EventMessage[] = [];
        let wake: (() => void) | undefined;
        let done = false;
        const on = (e: EventMessage): void => {
          queue.push(e);
          wake?.();
        };
        subs.add(on);
        const close = (): void => {
          done = true;
          subs.delete(on);
          wake?.();
        };
        return {
          close,
          async *[Symbol.asyncIterator]() {
            while (!done) {
              while (queue.length > 0) yield queue.shift()!;
              if (done) break;
              await new Promise<void>((r) => (wake = r));
            }
          },
        };
      },
    },
    system: {
      async info(): Promise<Partial<SystemInfo>> {
        return { ID: 'SCRIPTED', Containers: containers.size, ContainersRunning: 0, Images: 0, Driver: 'overlay' };
      },
      async df() {
        return { LayersSize: 0, Images: [], Containers: [], Volumes: [], BuildCache: [] };
      },
      version() {
        return { Version: '0', Os: 'linux', Arch: 'amd64', KernelVersion: '', GitCommit: '', GoVersion: '', BuildTime: '' };
      },
    },
    async close() {
      closed = true;
    },
  } as unknown as EngineLike;

  return {
    engine,
    containers,
    events: (e) => {
      const full: EventMessage = { Type: 'container', Action: 'start', Actor: { ID: 'x', Attributes: {} }, scope: 'local', time: 1, timeNano: 1, ...e };
      for (const s of subs) s(full);
    },
    closed: () => closed,
    get lastExecStart() {
      return state.lastExecStart;
    },
    setDefaultStart: (fn: (c: ScriptedContainer) => void) => {
      defaultStart = fn;
    },
  };
}
