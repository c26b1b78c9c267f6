import { afterAll, beforeAll } from 'vitest';
import { seededRegistry, type SeededRegistry } from '@berth/fixtures';
import type { DaemonOptions } from '../../src/index.js';
import { startTestDaemon, type TestDaemon } from './daemon.js';
import { dockerOk } from './docker-cli.js';

export interface DaemonFixtureOptions {
  /** berthd's options (its root, run root, socket and network are the fixture's). */
  daemon?: Omit<DaemonOptions, 'root' | 'runRoot'>;
  /**
   * Which busybox the file runs: `builtin` (the image made from the host's busybox-static,
   * named `busybox`), `registry` (pushed to a local registry of the file's own and pulled
   * through the docker CLI), or none.
   */
  busybox?: 'builtin' | 'registry';
  /** A local registry seeded with busybox, nothing pulled from it (implied by busybox: 'registry'). */
  registry?: boolean;
}

/** The file's berthd, readable once its beforeAll ran. */
export interface DaemonFixture extends TestDaemon {
  /** Environment for the docker CLI (TestDaemon.dockerEnv). */
  readonly env: NodeJS.ProcessEnv;
  /** The busybox reference asked for: `busybox`, or the registry's. */
  readonly image: string;
  /** The file's registry (registry, or busybox: 'registry'). */
  readonly reg: SeededRegistry;
}

/**
 * A private berthd for the test file that calls it at the top of a describe: started in
 * beforeAll (with busybox ready, if asked), stopped in afterAll with its root, bridge and
 * registry removed. The afterAll hooks of the file run before this one.
 */
export function useTestDaemon(opts: DaemonFixtureOptions = {}): DaemonFixture {
  let t: TestDaemon | undefined;
  let reg: SeededRegistry | undefined;
  const daemon = (): TestDaemon => {
    if (!t) throw new Error('the test daemon is not started (used outside a test or hook?)');
    return t;
  };

  beforeAll(async () => {
    if (opts.registry || opts.busybox === 'registry') reg = await seededRegistry();
    t = await startTestDaemon(opts.daemon);
    if (opts.busybox === 'builtin') await t.daemon.engine.images.ensureBuiltin('busybox');
    if (reg && opts.busybox === 'registry') await dockerOk(t.dockerEnv, ['pull', reg.busybox], { timeoutMs: 120_000 });
  }, 180_000);

  afterAll(async () => {
    // stop() removes the containers the file left too
    await t?.stop();
    await reg?.stop();
  });

  return {
    get daemon() {
      return daemon().daemon;
    },
    get dir() {
      return daemon().dir;
    },
    get socketPath() {
      return daemon().socketPath;
    },
    get host() {
      return daemon().host;
    },
    get dockerEnv() {
      return daemon().dockerEnv;
    },
    get network() {
      return daemon().network;
    },
    stop: () => daemon().stop(),
    get env() {
      return daemon().dockerEnv;
    },
    get image() {
      daemon();
      if (opts.busybox === 'builtin') return 'busybox';
      if (!reg) throw new Error("the fixture has no busybox: ask for busybox: 'builtin' or 'registry'");
      return reg.busybox;
    },
    get reg() {
      if (!reg) throw new Error("the fixture has no registry: ask for registry: true");
      return reg;
    },
  };
}
