import { isIP } from 'node:net';
import { StringDecoder } from 'node:string_decoder';
import { InvalidArgumentError, type ContainerConfig } from '@berth/image-format';
import type { AttachSession, ContainerService } from '../services.js';
import type { OutputChunk } from '../docker-types.js';
import type { LayerRecord } from '../images/table.js';
import type { BuildImageStore } from './image-store.js';
import type { BuildOptions } from './types.js';
import { BuildStepError, buildCancelled } from './errors.js';
import type { ContainerMount } from './run-instruction.js';

/**
 * Docker's classic builder colours what a RUN writes to stderr: each chunk goes out as its
 * own `stream` message wrapped in these (clients, docker-py's tests among them, look for
 * the exact wrapping).
 */
const STDERR_START = '\x1b[91m';
const STDERR_END = '\x1b[0m';

/** A RUN's own mounts and network (`RUN --mount`, `--network`). */
export interface RunExtras {
  mounts?: ContainerMount[];
  networkMode?: string;
  /** Image-relative paths left out of the layer: the mounts' stubs. */
  exclude?: string[];
  /** SOURCE_DATE_EPOCH in seconds: the layer's later times are written as it. */
  clampMtime?: number;
}

export interface RunStepDeps {
  containers: ContainerService;
  store: BuildImageStore;
  opts: BuildOptions;
  say: (text: string) => void;
}

/**
 * Runs one RUN step's command in a container from the stage's image, its output in the build
 * stream, and returns the layer of what it changed.
 */
export async function runStepContainer(d: RunStepDeps, imageId: string, config: ContainerConfig, argv: string[], env: string[], extra: RunExtras = {}): Promise<LayerRecord> {
  const { containers, opts, say } = d;
  for (const entry of opts.extraHosts ?? []) checkExtraHost(entry);
  // A client that hung up while the step was prepared gets no container: one made for it
  // would show in every listing until its removal (docker-py's list test saw one).
  if (opts.signal?.aborted) throw buildCancelled();
  const network = extra.networkMode ?? (opts.networkMode && opts.networkMode !== 'default' ? opts.networkMode : undefined);
  const { Id } = await containers.create({
    Image: imageId,
    Cmd: argv,
    Entrypoint: [],
    Env: [...(config.Env ?? []), ...env],
    ...(config.WorkingDir ? { WorkingDir: config.WorkingDir } : {}),
    ...(config.User ? { User: config.User } : {}),
    AttachStdout: true,
    AttachStderr: true,
    Tty: false,
    HostConfig: {
      ...(network ? { NetworkMode: network } : {}),
      ...(opts.extraHosts?.length ? { ExtraHosts: opts.extraHosts } : {}),
      ...(extra.mounts?.length ? { Mounts: extra.mounts } : {}),
    },
  });
  let ok = false;
  let session: AttachSession | undefined;
  try {
    say(` ---> Running in ${short(Id)}\n`);
    session = await containers.attach(Id, { stream: true, stdout: true, stderr: true });
    const output = session.output;
    const waited = containers.wait(Id, 'next-exit', opts.signal);
    // a build cancelled before the step started rejects it early: awaited below, never unhandled
    waited.catch(() => undefined);
    // One decoder per stream: a UTF-8 character split across chunks stays whole.
    const decoders = { stdout: new StringDecoder('utf8'), stderr: new StringDecoder('utf8') };
    const emit = (stream: 'stdout' | 'stderr', text: string): void => {
      if (text) say(stream === 'stderr' ? `${STDERR_START}${text}${STDERR_END}` : text);
    };
    const pumped = (async () => {
      for await (const chunk of output) {
        const c = chunk as OutputChunk;
        emit(c.stream, decoders[c.stream].write(c.data));
      }
    })().catch(() => undefined);
    // Never start what nobody waits for: a created container goes at once, a started one
    // only after its kill and exit.
    if (opts.signal?.aborted) throw buildCancelled();
    await containers.start(Id);
    const { StatusCode } = await waited;
    // The output ends with the process; bounded in case the attach lags behind the exit.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([pumped, new Promise((r) => (timer = setTimeout(r, 2000)))]);
    clearTimeout(timer);
    emit('stdout', decoders.stdout.end());
    emit('stderr', decoders.stderr.end());
    if (StatusCode !== 0) {
      throw new BuildStepError(`The command '${argv.join(' ')}' returned a non-zero code: ${StatusCode}`, StatusCode);
    }
    const layer = d.store.layerOf(await d.store.diffContainer(Id, { ...(extra.exclude ? { exclude: extra.exclude } : {}), ...(extra.clampMtime !== undefined ? { clampMtime: extra.clampMtime } : {}) }));
    ok = true;
    return layer;
  } finally {
    session?.close();
    // As Docker: rm (the default) removes a step's container once the step succeeded; a
    // failed step's container stays for inspection unless --force-rm. A build cancelled
    // (its client went away) kills and removes it.
    if (opts.forceRm || (ok && opts.rm !== false) || opts.signal?.aborted) {
      if (ok) say(`Removing intermediate container ${short(Id)}\n`);
      // A finished step's runtime state and rootfs (its layer is already taken) are freed
      // while the build goes on: their network teardown alone costs more than most steps.
      await containers.remove(Id, { force: true, releaseInBackground: ok }).catch(() => undefined);
    }
  }
}

/** Docker's check of an `extrahosts` entry, made when a RUN container is set up (as dockerd does). */
function checkExtraHost(entry: string): void {
  // only the first colon separates the name: the address may be IPv6
  const colon = entry.indexOf(':');
  if (colon <= 0) throw new InvalidArgumentError(`bad format for add-host: ${JSON.stringify(entry)}`);
  const ip = entry.slice(colon + 1);
  if (ip !== 'host-gateway' && isIP(ip.trim()) === 0) throw new InvalidArgumentError(`invalid IP address in add-host: ${JSON.stringify(ip)}`);
}

export function short(id: string): string {
  return id.replace(/^sha256:/, '').slice(0, 12);
}
