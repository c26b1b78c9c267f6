import os from 'node:os';
import type { FastifyInstance } from 'fastify';
import { API_VERSION, MIN_API_VERSION, schemas, type AuthConfig, type SystemVersion } from '@berth/engine-api';
import type { EngineLike } from '../engine-port.js';
import { BERTH_VERSION } from '../version.js';
import { JsonStream } from '../http/streaming.js';
import { filtersValue, timeValue, type Query } from '../http/query.js';
import { registryLogin } from './auth.js';

export interface SystemRouteOptions {
  root: string;
  /** Registries served over plain http besides 127.0.0.0/8 (daemon.json insecure-registries). */
  insecureRegistries: string[];
  registryMirrors: string[];
}

/** Docker's Go names for Node's architectures. */
export function goArch(arch: string = process.arch): string {
  return ({ x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' } as Record<string, string>)[arch] ?? arch;
}

export function systemRoutes(app: FastifyInstance, engine: EngineLike, options: SystemRouteOptions): void {
  const ping = async (request: { method: string }, reply: import('fastify').FastifyReply): Promise<void> => {
    reply.header('Cache-Control', 'no-cache, no-store, must-revalidate');
    reply.header('Pragma', 'no-cache');
    reply.header('Builder-Version', '1');
    reply.header('Swarm', 'inactive');
    if (request.method === 'HEAD') {
      reply.header('Content-Type', 'text/plain; charset=utf-8');
      reply.header('Content-Length', '0');
      return reply.code(200).send();
    }
    return reply.code(200).type('text/plain; charset=utf-8').send('OK');
  };
  app.get('/_ping', ping);
  app.head('/_ping', ping);

  app.get('/version', async (): Promise<SystemVersion> => {
    const kernel = os.release();
    const arch = goArch();
    const buildTime = new Date(0).toISOString();
    return {
      Platform: { Name: 'Berth' },
      Components: [
        {
          Name: 'Engine',
          Version: BERTH_VERSION,
          Details: {
            ApiVersion: API_VERSION,
            Arch: arch,
            BuildTime: buildTime,
            Experimental: 'false',
            GitCommit: '',
            GoVersion: `node${process.versions.node}`,
            KernelVersion: kernel,
            MinAPIVersion: MIN_API_VERSION,
            Os: 'linux',
          },
        },
      ],
      Version: BERTH_VERSION,
      ApiVersion: API_VERSION,
      MinAPIVersion: MIN_API_VERSION,
      GitCommit: '',
      GoVersion: `node${process.versions.node}`,
      Os: 'linux',
      Arch: arch,
      KernelVersion: kernel,
      BuildTime: buildTime,
    };
  });

  app.get('/info', async () => {
    const info = await engine.system.info();
    const insecure = ['127.0.0.0/8', ...options.insecureRegistries.filter((r) => /\/\d+$/.test(r))];
    const indexConfigs: Record<string, { Name: string; Mirrors: string[]; Secure: boolean; Official: boolean }> = {
      'docker.io': { Name: 'docker.io', Mirrors: options.registryMirrors, Secure: true, Official: true },
    };
    for (const r of options.insecureRegistries.filter((x) => !/\/\d+$/.test(x))) {
      indexConfigs[r] = { Name: r, Mirrors: [], Secure: false, Official: false };
    }
    // What the docker CLI reads, filled first so the engine's figures win where it has them.
    const defaults: Record<string, unknown> = {
      ID: '',
      Containers: 0,
      ContainersRunning: 0,
      ContainersPaused: 0,
      ContainersStopped: 0,
      Images: 0,
      Driver: 'overlay',
      DriverStatus: [],
      Plugins: { Volume: ['local'], Network: ['bridge', 'host', 'null'], Authorization: null, Log: ['awslogs', 'fluentd', 'gcplogs', 'gelf', 'journald', 'json-file', 'local', 'logentries', 'splunk', 'syslog'] },
      MemoryLimit: true,
      SwapLimit: true,
      CpuCfsPeriod: true,
      CpuCfsQuota: true,
      CPUShares: true,
      CPUSet: true,
      PidsLimit: true,
      OomKillDisable: false,
      IPv4Forwarding: true,
      Debug: false,
      NFd: 0,
      NGoroutines: 0,
      SystemTime: new Date().toISOString(),
      LoggingDriver: 'json-file',
      CgroupDriver: 'cgroupfs',
      CgroupVersion: '1',
      NEventsListener: engine.events.listeners,
      KernelVersion: os.release(),
      OperatingSystem: 'linux',
      OSVersion: '',
      OSType: process.platform === 'win32' ? 'windows' : 'linux',
      Architecture: os.machine(),
      NCPU: os.availableParallelism(),
      MemTotal: os.totalmem(),
      IndexServerAddress: 'https://index.docker.io/v1/',
      GenericResources: null,
      HttpProxy: process.env['HTTP_PROXY'] ?? '',
      HttpsProxy: process.env['HTTPS_PROXY'] ?? '',
      NoProxy: process.env['NO_PROXY'] ?? '',
      Name: os.hostname(),
      Labels: [],
      ExperimentalBuild: false,
      Swarm: { NodeID: '', NodeAddr: '', LocalNodeState: 'inactive', ControlAvailable: false, Error: '', RemoteManagers: null },
      LiveRestoreEnabled: true,
      InitBinary: '',
      ContainerdCommit: { ID: '' },
      RuncCommit: { ID: '' },
      InitCommit: { ID: '' },
      SecurityOptions: ['name=seccomp,profile=builtin'],
      CDISpecDirs: [],
      Warnings: null,
    };
    return {
      ...defaults,
      ...info,
      DockerRootDir: options.root,
      ServerVersion: BERTH_VERSION,
      RegistryConfig: { InsecureRegistryCIDRs: insecure, IndexConfigs: indexConfigs, Mirrors: options.registryMirrors },
    };
  });

  app.get('/system/df', async () => engine.system.df());

  app.get('/events', async (request, reply) => {
    const q = request.query as Query;
    const since = timeValue(q['since'], 'since');
    const until = timeValue(q['until'], 'until');
    const filters = filtersValue(q['filters']);
    const subscription = engine.events.subscribe({
      ...(since !== undefined ? { since } : {}),
      ...(until !== undefined ? { until } : {}),
      ...(filters ? { filters } : {}),
    });
    const out = new JsonStream(reply, true);
    out.aborted.signal.addEventListener('abort', () => subscription.close(), { once: true });
    try {
      for await (const event of subscription) {
        if (!out.write(event) && out.aborted.signal.aborted) break;
      }
      out.end();
    } catch (err) {
      out.end(err);
    } finally {
      subscription.close();
    }
  });

  // POST /build and /build/prune live in routes/build.ts.

  app.post('/auth', { schema: { body: schemas.authConfigSchema } }, async (request) => {
    return registryLogin((request.body ?? {}) as AuthConfig, options.insecureRegistries);
  });
}
