import http from 'node:http';
import { existsSync } from 'node:fs';
import { totalmem } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestDaemon, type TestDaemon } from './support/daemon.js';
import { dockerOk } from './support/docker-cli.js';
import { request } from './support/http.js';

/**
 * GET /containers/{id}/stats key for key as dockerd 20.10 answers on this kind of host
 * (cgroup v1 hybrid), asked for the same containers (`docker run -d busybox sleep`,
 * with and without `-m 64m`, `--pids-limit 50`); the values naturally differ.
 */
const V1 = existsSync('/sys/fs/cgroup/memory/memory.stat');

// dockerd's top-level keys in its order (a running container with a network of its own)
const TOP = ['read', 'preread', 'pids_stats', 'blkio_stats', 'num_procs', 'storage_stats', 'cpu_stats', 'precpu_stats', 'memory_stats', 'name', 'id', 'networks'];
// memory_stats.stats as dockerd answered here (v1); on v2 dockerd 20.10 sends its v2 set
const V1_STATS =
  'active_anon active_file cache dirty hierarchical_memory_limit hierarchical_memsw_limit inactive_anon inactive_file mapped_file pgfault pgmajfault pgpgin pgpgout rss rss_huge ' +
  'total_active_anon total_active_file total_cache total_dirty total_inactive_anon total_inactive_file total_mapped_file total_pgfault total_pgmajfault total_pgpgin total_pgpgout total_rss total_rss_huge total_unevictable total_writeback unevictable writeback';
const V2_STATS =
  'active_anon active_file anon anon_thp file file_dirty file_mapped file_writeback inactive_anon inactive_file kernel_stack pgactivate pgdeactivate pgfault pglazyfree pglazyfreed pgmajfault pgrefill pgscan pgsteal ' +
  'shmem slab slab_reclaimable slab_unreclaimable sock thp_collapse_alloc thp_fault_alloc unevictable workingset_activate workingset_nodereclaim workingset_refault';
const NET_KEYS = ['rx_bytes', 'rx_packets', 'rx_errors', 'rx_dropped', 'tx_bytes', 'tx_packets', 'tx_errors', 'tx_dropped'];
// `docker stats --no-stream --format '{{json .}}'` (CLI 28) against dockerd
const CLI_COLUMNS = ['BlockIO', 'CPUPerc', 'Container', 'ID', 'MemPerc', 'MemUsage', 'Name', 'NetIO', 'PIDs'];

type Json = Record<string, unknown>;

describe('container stats: the key tree dockerd 20.10 answers', () => {
  let t: TestDaemon;
  const stats = async (id: string): Promise<Json> => JSON.parse((await request(t.socketPath, 'GET', `/v1.41/containers/${id}/stats?stream=false`)).body) as Json;
  /** The first `n` messages of a stats stream. */
  const streamed = (id: string, n: number): Promise<Json[]> =>
    new Promise((resolve, reject) => {
      const req = http.get({ socketPath: t.socketPath, path: `/v1.41/containers/${id}/stats?stream=true`, agent: false }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          text += c;
          const lines = text.split('\n').filter(Boolean);
          if (lines.length >= n && text.endsWith('\n')) {
            req.destroy();
            resolve(lines.slice(0, n).map((l) => JSON.parse(l) as Json));
          }
        });
        res.on('error', () => {});
      });
      req.on('error', (err) => (req.destroyed ? undefined : reject(err)));
    });
  let plain: string;
  let limited: string;

  beforeAll(async () => {
    t = await startTestDaemon();
    await t.daemon.engine.images.ensureBuiltin('busybox');
    plain = (await dockerOk(t.dockerEnv, ['run', '-d', '--name', 'plain', 'busybox', 'sleep', '300'])).trim();
    limited = (await dockerOk(t.dockerEnv, ['run', '-d', '--name', 'limited', '-m', '64m', '--pids-limit', '50', 'busybox', 'sleep', '300'])).trim();
  }, 120_000);
  afterAll(async () => {
    await t?.stop();
  });

  const expectRunningShape = (s: Json, limit: number): void => {
    expect(Object.keys(s)).toEqual(TOP);
    const mem = s['memory_stats'] as Json;
    // failcnt is left out while 0 (omitempty), max_usage does not exist on v2
    expect(Object.keys(mem).filter((k) => k !== 'failcnt')).toEqual(V1 ? ['usage', 'max_usage', 'stats', 'limit'] : ['usage', 'stats', 'limit']);
    expect(Object.keys(mem['stats'] as Json)).toEqual((V1 ? V1_STATS : V2_STATS).split(' '));
    expect(mem['limit']).toBe(limit);
    const cpu = s['cpu_stats'] as { cpu_usage: Json; online_cpus: number; throttling_data: Json };
    expect(Object.keys(cpu)).toEqual(['cpu_usage', 'system_cpu_usage', 'online_cpus', 'throttling_data']);
    expect(Object.keys(cpu.cpu_usage)).toEqual(V1 ? ['total_usage', 'percpu_usage', 'usage_in_kernelmode', 'usage_in_usermode'] : ['total_usage', 'usage_in_kernelmode', 'usage_in_usermode']);
    if (V1) expect((cpu.cpu_usage['percpu_usage'] as number[]).length).toBeGreaterThanOrEqual(cpu.online_cpus);
    expect(Object.keys(cpu.throttling_data)).toEqual(['periods', 'throttled_periods', 'throttled_time']);
    expect(Object.keys(s['precpu_stats'] as Json)).toEqual(Object.keys(cpu));
    expect(Object.keys((s['networks'] as Record<string, Json>)['eth0']!)).toEqual(NET_KEYS);
    expect(Object.values(s['blkio_stats'] as Json).every((v) => Array.isArray(v))).toBe(true);
  };

  it('a running container without a memory limit: the host memory as limit, the memory.stat counters dockerd picks', async () => {
    const s = await stats(plain);
    expectRunningShape(s, totalmem());
    expect(s['pids_stats']).toEqual({ current: 1 });
    const counters = (s['memory_stats'] as { stats: Record<string, number> }).stats;
    if (V1) expect(counters['total_rss']).toBeGreaterThan(0);
  });

  it("an unlimited container's hierarchical_memory_limit as the exact integer dockerd writes (9223372036854771712, not a double's 9223372036854772000)", async () => {
    const body = (await request(t.socketPath, 'GET', `/v1.41/containers/${plain}/stats?stream=false`)).body;
    // v2 has no such counter; none of its counters come near 2^53
    if (V1) expect(body).toContain('"hierarchical_memory_limit":9223372036854771712,');
    expect(body).not.toMatch(/:-?\d+(\.\d+)?[eE]/);
  });

  it('with -m 64m and --pids-limit 50: the limits as set', async () => {
    const s = await stats(limited);
    expectRunningShape(s, 64 << 20);
    expect(s['pids_stats']).toEqual({ current: 1, limit: 50 });
    if (V1) expect((s['memory_stats'] as { stats: Json }).stats['hierarchical_memory_limit']).toBe(64 << 20);
  });

  it('stream=true: the same tree a second apart, the first with no previous sample (zero time, zero precpu)', async () => {
    const [first, second] = await streamed(limited, 2);
    expect(first!['preread']).toBe('0001-01-01T00:00:00Z');
    // dockerd: {"cpu_usage":{"total_usage":0,"usage_in_kernelmode":0,"usage_in_usermode":0},"throttling_data":{...zeros}}
    expect(first!['precpu_stats']).toEqual({ cpu_usage: { total_usage: 0, usage_in_kernelmode: 0, usage_in_usermode: 0 }, throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 } });
    expectRunningShape(second!, 64 << 20);
    expect(second!['preread']).toBe(first!['read']);
  }, 15_000);

  it('a created container: zero times, empty pids/memory, null blkio lists, as dockerd', async () => {
    const id = (await dockerOk(t.dockerEnv, ['create', 'busybox', 'true'])).trim();
    const zeroCpu = { cpu_usage: { total_usage: 0, usage_in_kernelmode: 0, usage_in_usermode: 0 }, throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 } };
    const s = await stats(id);
    expect(s).toEqual({
      read: '0001-01-01T00:00:00Z',
      preread: '0001-01-01T00:00:00Z',
      pids_stats: {},
      blkio_stats: Object.fromEntries(['io_service_bytes_recursive', 'io_serviced_recursive', 'io_queue_recursive', 'io_service_time_recursive', 'io_wait_time_recursive', 'io_merged_recursive', 'io_time_recursive', 'sectors_recursive'].map((k) => [k, null])),
      num_procs: 0,
      storage_stats: {},
      cpu_stats: zeroCpu,
      precpu_stats: zeroCpu,
      memory_stats: {},
      name: expect.stringMatching(/^\//) as unknown,
      id,
    });
    expect(Object.keys(s)).toEqual(TOP.filter((k) => k !== 'networks'));
  });

  it('docker stats --no-stream: the columns dockerd gives, MEM USAGE as usage less the inactive file cache', async () => {
    const rows = (await dockerOk(t.dockerEnv, ['stats', '--no-stream', '--format', '{{json .}}', 'plain', 'limited'])).trim().split('\n').map((l) => JSON.parse(l) as Record<string, string>);
    expect(rows.map((r) => Object.keys(r).sort())).toEqual([CLI_COLUMNS, CLI_COLUMNS]);
    // dockerd: "312KiB / 64MiB", "0.48%", "1" for the same -m 64m sleep
    const lim = rows.find((r) => r['Name'] === 'limited')!;
    expect(lim['MemUsage']).toMatch(/^[\d.]+[KM]iB \/ 64MiB$/);
    expect(lim['PIDs']).toBe('1');
    // the CLI takes (total_)inactive_file off usage only when memory.stat's counters are there
    const s = (await stats(limited))['memory_stats'] as { usage: number; stats: Record<string, number> };
    const inactive = s.stats[V1 ? 'total_inactive_file' : 'inactive_file']!;
    const shown = Number(/^([\d.]+)KiB/.exec(lim['MemUsage']!)?.[1] ?? NaN) * 1024;
    // an idle sleep: usage moves by a few pages between the two samples
    expect(Math.abs(shown - (s.usage - inactive))).toBeLessThan(64 * 1024);
  });
});
