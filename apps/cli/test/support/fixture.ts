import { afterAll, beforeAll } from 'vitest';
import { seededRegistry, type SeededRegistry } from '@berth/fixtures';
import { berthRunner, buildCli, dockerRunner, removeCli, type CliResult } from './cli.js';
import { startTestDaemon, type TestDaemon } from './daemon.js';

type RunOptions = { input?: string | Buffer; timeoutMs?: number };

export interface CliFixtureOptions {
  /**
   * Which busybox the file runs: `builtin` (the image made from the host's busybox-static,
   * named `busybox`), or `registry` (pushed to a local registry of the file's own and pulled
   * with `berth pull`).
   */
  busybox?: 'builtin' | 'registry';
  /** A local registry seeded with busybox, nothing pulled from it (implied by busybox: 'registry'). */
  registry?: boolean;
  /** Added to the docker CLI's environment (e.g. DOCKER_BUILDKIT). */
  dockerEnv?: NodeJS.ProcessEnv;
}

/** The file's CLI bundle and berthd, readable once its beforeAll ran. */
export interface CliFixture extends Omit<TestDaemon, 'stop'> {
  /** The CLI bundle built from the current sources. */
  readonly bin: string;
  /** The busybox reference asked for: `busybox`, or the registry's. */
  readonly image: string;
  /** The file's registry (registry, or busybox: 'registry'). */
  readonly reg: SeededRegistry;
  berth(args: string[], opts?: RunOptions): Promise<CliResult>;
  berthOk(args: string[], opts?: RunOptions): Promise<string>;
  docker(args: string[], opts?: RunOptions): Promise<CliResult>;
  dockerOk(args: string[], opts?: RunOptions): Promise<string>;
}

/**
 * The CLI built from the current sources and a private berthd, for the test file that calls
 * it at the top of a describe: made in beforeAll (with busybox ready, if asked); in afterAll
 * the containers left are removed, then the daemon, its root and bridge, the registry and the
 * bundle. The file's own afterAll hooks run before this one.
 */
export function useCliDaemon(opts: CliFixtureOptions = {}): CliFixture {
  let t: TestDaemon | undefined;
  let reg: SeededRegistry | undefined;
  let bin: string | undefined;
  let runners: ReturnType<typeof berthRunner> & ReturnType<typeof dockerRunner> | undefined;
  const started = (): TestDaemon => {
    if (!t) throw new Error('the test daemon is not started (used outside a test or hook?)');
    return t;
  };
  const run = (): NonNullable<typeof runners> => {
    if (!runners) throw new Error('the CLI is not built (used outside a test or hook?)');
    return runners;
  };

  beforeAll(async () => {
    const withRegistry = opts.registry || opts.busybox === 'registry';
    [bin, reg, t] = await Promise.all([buildCli(), withRegistry ? seededRegistry() : undefined, startTestDaemon()]);
    runners = { ...berthRunner(bin, t.berthEnv), ...dockerRunner({ ...t.dockerEnv, ...opts.dockerEnv }) };
    if (opts.busybox === 'builtin') await t.daemon.engine.images.ensureBuiltin('busybox');
    if (reg && opts.busybox === 'registry') await runners.berthOk(['pull', '-q', reg.busybox], { timeoutMs: 120_000 });
  }, 180_000);

  afterAll(async () => {
    if (t && runners) {
      // the daemon leaves containers running on purpose; a test file must not
      const ids = (await runners.berth(['ps', '-aq'])).stdout.split('\n').filter(Boolean);
      if (ids.length > 0) await runners.berth(['rm', '-f', ...ids]);
    }
    await t?.stop();
    await reg?.stop();
    await removeCli(bin);
  });

  return {
    get daemon() {
      return started().daemon;
    },
    get dir() {
      return started().dir;
    },
    get socketPath() {
      return started().socketPath;
    },
    get host() {
      return started().host;
    },
    get dockerEnv() {
      return started().dockerEnv;
    },
    get berthEnv() {
      return started().berthEnv;
    },
    get bin() {
      if (!bin) throw new Error('the CLI is not built (used outside a test or hook?)');
      return bin;
    },
    get image() {
      started();
      if (opts.busybox === 'builtin') return 'busybox';
      if (!reg) throw new Error("the fixture has no busybox: ask for busybox: 'builtin' or 'registry'");
      return reg.busybox;
    },
    get reg() {
      if (!reg) throw new Error('the fixture has no registry: ask for registry: true');
      return reg;
    },
    berth: (args, o) => run().berth(args, o),
    berthOk: (args, o) => run().berthOk(args, o),
    docker: (args, o) => run().docker(args, o),
    dockerOk: (args, o) => run().dockerOk(args, o),
  };
}
