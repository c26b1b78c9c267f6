import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeBuildContext } from '@berth/fixtures';
import { startTestDaemon, type TestDaemon } from './support/daemon.js';
import { docker } from './support/docker-cli.js';

/**
 * A build commits one layer per RUN step. The layer's changes (the overlay upper dir,
 * its xattrs through getfattr, the files read into the tar) are gathered without
 * holding berthd's event loop: other clients are answered while a build commits.
 */
describe('build commits do not block the event loop', () => {
  let t: TestDaemon;
  let work: string;

  beforeAll(async () => {
    t = await startTestDaemon();
    await t.daemon.engine.images.ensureBuiltin('busybox');
    work = await mkdtemp(join(tmpdir(), 'berth-build-loop-'));
  });
  afterAll(async () => {
    await t?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('10 RUN steps: the event loop never stalls for long while they commit', async () => {
    const steps = Array.from({ length: 10 }, (_, i) => `RUN mkdir -p /s${i}/a/b && for f in 1 2 3 4 5 6 7 8; do echo ${i}-$f > /s${i}/a/b/$f; done`);
    const dir = await writeBuildContext(work, 'ten', { Dockerfile: `FROM busybox\n${steps.join('\n')}\n` });
    const h = monitorEventLoopDelay({ resolution: 5 });
    h.enable();
    const started = performance.now();
    const r = await docker({ ...t.dockerEnv, DOCKER_BUILDKIT: '0' }, ['build', '--no-cache', '-q', '-t', 'ten-steps', dir], { timeoutMs: 120_000 });
    const took = performance.now() - started;
    h.disable();
    expect(r.code, r.stderr).toBe(0);
    const maxMs = h.max / 1e6;
    // measured here (2 shared cores), 3 runs each: getfattr by spawnSync on this thread:
    // build 10.1-12.0 s, loop delay max 131-136 ms, p99 36-45 ms; from the helper thread:
    // 7.1-7.7 s, max 49-91 ms, p99 20-25 ms (the rest is the runtime's own spawns per step)
    console.log(`build of 10 RUN steps: ${took.toFixed(0)} ms, event loop delay max ${maxMs.toFixed(1)} ms, p99 ${(h.percentile(99) / 1e6).toFixed(1)} ms`);
    expect(maxMs).toBeLessThan(1000);
    const run = await docker(t.dockerEnv, ['run', '--rm', '--network', 'none', 'ten-steps', 'cat', '/s0/a/b/1', '/s9/a/b/8']);
    expect(run).toEqual({ code: 0, stdout: '0-1\n9-8\n', stderr: '' });
  }, 180_000);
});
