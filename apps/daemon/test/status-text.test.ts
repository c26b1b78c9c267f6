import { describe, expect, it } from 'vitest';
import { useTestDaemon } from './support/fixture.js';
import { docker, dockerOk } from './support/docker-cli.js';

/** go-units' words for a whole number of seconds under a minute. */
function seconds(n: number): string {
  return n === 0 ? 'Less than a second' : n === 1 ? '1 second' : `${n} seconds`;
}

// The texts below are the reference dockerd 20.10's, asked for the same containers:
//   Up Less than a second / Up 1 second / Up 1 second (Paused)
//   Up Less than a second (health: starting) / Up 2 seconds (healthy) / Up 2 seconds (unhealthy)
//   Exited (3) Less than a second ago / Exited (3) 1 second ago / Created
// dockerd truncates the seconds (Go's int()): 0.6 s is "Less than a second", 1.6 s "1 second".
describe("the Status text of docker ps is dockerd's", () => {
  const t = useTestDaemon({ busybox: 'registry' });

  const inspectTime = async (name: string, field: 'StartedAt' | 'FinishedAt'): Promise<number> => {
    const iso = (await dockerOk(t.env, ['inspect', '-f', `{{.State.${field}}}`, name])).trim();
    const ms = Date.parse(iso);
    expect(ms, iso).not.toBeNaN();
    return ms;
  };

  /**
   * The Status text asked `offsetMs` after the container's `field` time, and every text
   * dockerd could have given while the question was out: `render` of each whole number of
   * seconds between the moment it was sent and the moment it was answered.
   */
  async function statusAt(name: string, field: 'StartedAt' | 'FinishedAt', offsetMs: number, render: (secs: string) => string): Promise<{ text: string; allowed: string[] }> {
    const since = await inspectTime(name, field);
    const wait = since + offsetMs - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const before = Date.now();
    const text = (await dockerOk(t.env, ['ps', '-a', '--filter', `name=^${name}$`, '--format', '{{.Status}}'])).trim();
    const after = Date.now();
    const allowed: string[] = [];
    for (let n = Math.trunc((before - since) / 1000); n <= Math.trunc((after - since) / 1000); n++) allowed.push(render(seconds(n)));
    return { text, allowed };
  }

  it('a running container: Up, with the seconds truncated', async () => {
    await dockerOk(t.env, ['run', '-d', '--name', 'up', t.image, 'sleep', '60']);
    for (const offset of [600, 1600, 2600]) {
      const { text, allowed } = await statusAt('up', 'StartedAt', offset, (s) => `Up ${s}`);
      expect(allowed, `at ${offset} ms`).toContain(text);
    }
    await dockerOk(t.env, ['pause', 'up']);
    const paused = await statusAt('up', 'StartedAt', 3600, (s) => `Up ${s} (Paused)`);
    expect(paused.allowed).toContain(paused.text);
    await dockerOk(t.env, ['rm', '-f', 'up']);
  });

  it('an exited container: Exited (code) ... ago; a created one: Created', async () => {
    expect((await docker(t.env, ['run', '--name', 'quit', t.image, 'sh', '-c', 'exit 3'])).code).toBe(3);
    for (const offset of [600, 1600]) {
      const { text, allowed } = await statusAt('quit', 'FinishedAt', offset, (s) => `Exited (3) ${s} ago`);
      expect(allowed, `at ${offset} ms`).toContain(text);
    }
    await dockerOk(t.env, ['create', '--name', 'fresh', t.image, 'true']);
    expect((await dockerOk(t.env, ['ps', '-a', '--filter', 'name=^fresh$', '--format', '{{.Status}}'])).trim()).toBe('Created');
    await dockerOk(t.env, ['rm', '-f', 'quit', 'fresh']);
  });

  it('health: starting, healthy, unhealthy after the uptime', async () => {
    const health = async (name: string): Promise<string> => (await dockerOk(t.env, ['inspect', '-f', '{{.State.Health.Status}}', name])).trim();
    const until = async (name: string, status: string): Promise<void> => {
      const deadline = Date.now() + 30_000;
      while ((await health(name)) !== status) {
        if (Date.now() > deadline) throw new Error(`${name} never became ${status}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    // a first check a minute away: starting for the whole test
    await dockerOk(t.env, ['run', '-d', '--name', 'waiting', '--health-cmd', 'true', '--health-interval', '60s', t.image, 'sleep', '60']);
    await dockerOk(t.env, ['run', '-d', '--name', 'ok', '--health-cmd', 'true', '--health-interval', '1s', t.image, 'sleep', '60']);
    await dockerOk(t.env, ['run', '-d', '--name', 'sick', '--health-cmd', 'false', '--health-interval', '1s', '--health-retries', '1', t.image, 'sleep', '60']);
    const starting = await statusAt('waiting', 'StartedAt', 600, (s) => `Up ${s} (health: starting)`);
    expect(starting.allowed).toContain(starting.text);
    await until('ok', 'healthy');
    const healthy = await statusAt('ok', 'StartedAt', 1600, (s) => `Up ${s} (healthy)`);
    expect(healthy.allowed).toContain(healthy.text);
    await until('sick', 'unhealthy');
    const unhealthy = await statusAt('sick', 'StartedAt', 1600, (s) => `Up ${s} (unhealthy)`);
    expect(unhealthy.allowed).toContain(unhealthy.text);
    await dockerOk(t.env, ['rm', '-f', 'waiting', 'ok', 'sick']);
  });
});
