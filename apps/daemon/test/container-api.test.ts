import net from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { useTestDaemon } from './support/fixture.js';
import { dockerOk } from './support/docker-cli.js';
import { request } from './support/http.js';

// Container create/inspect/stats as docker-py reads them (raw API, v1.41), compared with
// what dockerd 20.10 answers for the same requests.
describe('container create, inspect and stats over the API', () => {
  const t = useTestDaemon({ busybox: 'builtin' });
  const api = async (method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> => {
    const res = await request(t.socketPath, method, `/v1.41${path}`, body === undefined ? {} : { body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } });
    return { status: res.status, json: res.body ? (JSON.parse(res.body) as Record<string, unknown>) : {} };
  };
  const created: string[] = [];
  const create = async (body: Record<string, unknown>): Promise<string> => {
    const r = await api('POST', '/containers/create', { Image: 'busybox', Cmd: ['sleep', '30'], ...body });
    expect(r.status, JSON.stringify(r.json)).toBe(201);
    created.push(r.json['Id'] as string);
    return r.json['Id'] as string;
  };
  const hostConfig = async (id: string): Promise<Record<string, unknown>> => (await api('GET', `/containers/${id}/json`)).json['HostConfig'] as Record<string, unknown>;

  afterAll(async () => {
    for (const id of created) await api('DELETE', `/containers/${id}?force=1`).catch(() => {});
  });

  it('inspect shows every HostConfig field dockerd shows, unset ones as its zero values (null for lists)', async () => {
    const hc = await hostConfig(await create({}));
    // dockerd 20.10's keys for the same minimal create
    const dockerd =
      'Binds ContainerIDFile LogConfig NetworkMode PortBindings RestartPolicy AutoRemove VolumeDriver VolumesFrom CapAdd CapDrop CgroupnsMode Dns DnsOptions DnsSearch ExtraHosts GroupAdd IpcMode Cgroup OomScoreAdj PidMode Privileged PublishAllPorts ReadonlyRootfs SecurityOpt UTSMode UsernsMode ShmSize ConsoleSize Isolation CpuShares Memory NanoCpus CgroupParent BlkioWeight BlkioWeightDevice BlkioDeviceReadBps BlkioDeviceWriteBps BlkioDeviceReadIOps BlkioDeviceWriteIOps CpuPeriod CpuQuota CpuRealtimePeriod CpuRealtimeRuntime CpusetCpus CpusetMems Devices DeviceCgroupRules DeviceRequests KernelMemory KernelMemoryTCP MemoryReservation MemorySwap MemorySwappiness OomKillDisable PidsLimit Ulimits CpuCount CpuPercent IOMaximumIOps IOMaximumBandwidth MaskedPaths ReadonlyPaths';
    for (const key of dockerd.split(' ')) expect(Object.keys(hc), key).toContain(key);
    expect(hc).toMatchObject({
      PortBindings: null,
      RestartPolicy: { Name: '', MaximumRetryCount: 0 },
      Dns: null,
      Devices: null,
      Ulimits: null,
      MemorySwappiness: null,
      DeviceCgroupRules: null,
      OomKillDisable: false,
      ShmSize: 67108864,
    });
    expect(hc['MaskedPaths']).toContain('/proc/kcore');
    expect(hc['ReadonlyPaths']).toContain('/proc/sysrq-trigger');
    expect((await hostConfig(await create({ HostConfig: { Privileged: true } })))['MaskedPaths']).toBeNull();
  });

  it('keeps what the client set: MemorySwappiness, DeviceCgroupRules, CpuRealtime* (any case of the names, as Go decodes)', async () => {
    const id = await create({ HostConfig: { MemorySwappiness: 40, DeviceCgroupRules: ['c 7:128 rwm'], CPURealtimePeriod: 1000, CPURealtimeRuntime: 500 } });
    expect(await hostConfig(id)).toMatchObject({ MemorySwappiness: 40, DeviceCgroupRules: ['c 7:128 rwm'], CpuRealtimePeriod: 1000, CpuRealtimeRuntime: 500 });
    expect(await api('POST', '/containers/create', { Image: 'busybox', HostConfig: { MemorySwappiness: 101 } })).toEqual({ status: 400, json: { message: 'Invalid value: 101, valid memory swappiness range is 0-100' } });
  });

  it('--memory-swappiness reaches the memory cgroup (v1, as dockerd applies it here)', async () => {
    const shown = await dockerOk(t.dockerEnv, ['run', '--rm', '--network', 'none', '--memory-swappiness', '40', 'busybox', 'cat', '/sys/fs/cgroup/memory/memory.swappiness']);
    expect(shown.trim()).toBe('40');
  });

  it("stats have dockerd's shape: blkio_stats lists ([] running, null not running) and storage_stats", async () => {
    const running = await create({ HostConfig: { NetworkMode: 'none' } });
    expect((await api('POST', `/containers/${running}/start`)).status).toBe(204);
    const stats = (await api('GET', `/containers/${running}/stats?stream=0`)).json;
    for (const key of ['read', 'preread', 'pids_stats', 'blkio_stats', 'num_procs', 'storage_stats', 'cpu_stats', 'precpu_stats', 'memory_stats', 'name', 'id']) {
      expect(Object.keys(stats), key).toContain(key);
    }
    const blkio = stats['blkio_stats'] as Record<string, unknown>;
    expect(Object.keys(blkio).sort()).toEqual(['io_merged_recursive', 'io_queue_recursive', 'io_service_bytes_recursive', 'io_service_time_recursive', 'io_serviced_recursive', 'io_time_recursive', 'io_wait_time_recursive', 'sectors_recursive']);
    expect(blkio['io_service_bytes_recursive']).toEqual([]);
    expect(stats['storage_stats']).toEqual({});
    const stopped = (await api('GET', `/containers/${await create({})}/stats?stream=0`)).json;
    expect((stopped['blkio_stats'] as Record<string, unknown>)['io_service_bytes_recursive']).toBeNull();
  });

  it('attach with logs on an exited container: the replay never shares a read with the 101 headers (docker-py drops such bytes)', async () => {
    const id = await create({ Cmd: ['echo', 'hello'] });
    await api('POST', `/containers/${id}/start`);
    await api('POST', `/containers/${id}/wait`);
    const reads = await new Promise<Buffer[]>((resolve, reject) => {
      const socket = net.connect(t.socketPath);
      const got: Buffer[] = [];
      socket.on('data', (c: Buffer) => got.push(c));
      socket.on('end', () => resolve(got));
      socket.on('error', reject);
      socket.write(`POST /v1.41/containers/${id}/attach?logs=1&stdout=1&stderr=1&stream=0 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n`);
    });
    const head = (reads[0] ?? Buffer.alloc(0)).toString('latin1');
    expect(head).toMatch(/^HTTP\/1.1 101 UPGRADED\r\n[\s\S]*\r\n\r\n$/);
    const body = Buffer.concat(reads.slice(1));
    expect(body.subarray(8).toString()).toBe('hello\n');
  });

  it('--device-cgroup-rule reaches the container\'s device cgroup', async () => {
    const list = await dockerOk(t.dockerEnv, ['run', '--rm', '--network', 'none', '--device-cgroup-rule', 'c 7:128 rwm', 'busybox', 'cat', '/sys/fs/cgroup/devices/devices.list']);
    expect(list.split('\n')).toContain('c 7:128 rwm');
    const bad = await api('POST', '/containers/create', { Image: 'busybox', HostConfig: { DeviceCgroupRules: ['x 7:128 rwm'] } });
    created.push(bad.json['Id'] as string);
    const started = await api('POST', `/containers/${bad.json['Id'] as string}/start`);
    expect(started.status).toBe(500);
    expect(started.json['message']).toContain("invalid device cgroup rule format: 'x 7:128 rwm'");
  });
});
