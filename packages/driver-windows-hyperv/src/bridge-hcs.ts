/**
 * The HcsApi the shared Windows driver core drives, with LCOW containers routed over the
 * GCS bridge: a container in a Linux utility VM is not an HCS compute system (the host
 * holds the guest connection itself, as hcsshim does), so its start, processes, signals,
 * console, properties and shutdown go to its VM's GuestConnection. Everything else (the
 * VMs, WCOW, storage, HCN) goes to the HCS underneath unchanged.
 */
import {
  HRESULT,
  HcsError,
  isHcsError,
  lcowProcessParameters,
  type GuestConnection,
  type GuestProcessHandle,
  type HcsApi,
  type HcsProcess,
  type HcsSystem,
  type ProcessModifyRequest,
  type ProcessParameters,
  type ProcessStatus,
  type Properties,
  type PropertyQuery,
  type SignalOptions,
} from '@berth/hcs';

/** An LCOW container as the core holds it: an id and the bridge that reaches it. */
export class BridgeContainer implements HcsSystem {
  started = false;
  init: GuestProcessHandle | undefined;
  constructor(
    readonly id: string,
    readonly gc: GuestConnection,
  ) {}
}

const processes = new WeakMap<object, { gc: GuestConnection; handle: GuestProcessHandle }>();

/** A guest that no longer knows the process (it exited): HCS's answer for the same. */
const alreadyStopped = (e: unknown): never => {
  if (isHcsError(e, 'ERROR_NOT_FOUND')) throw new HcsError(HRESULT.HCS_E_PROCESS_ALREADY_STOPPED, 'GCS', (e as Error).message);
  throw e;
};

/** The Linux GCS reports cgroup metrics (nanoseconds) where HCS has Statistics (100 ns). */
function statistics(p: Properties & { Metrics?: { cpu?: { usage?: { total?: number; user?: number; kernel?: number } }; memory?: { usage?: { usage?: number; max?: number } } } }): Properties {
  const { Metrics: m, ...rest } = p;
  if (!m) return rest;
  const ns = (n: number | undefined) => (n === undefined ? undefined : Math.round(n / 100));
  return {
    ...rest,
    Statistics: {
      Timestamp: new Date().toISOString(),
      Processor: { TotalRuntime100ns: ns(m.cpu?.usage?.total) ?? 0, RuntimeUser100ns: ns(m.cpu?.usage?.user), RuntimeKernel100ns: ns(m.cpu?.usage?.kernel) },
      Memory: { MemoryUsageCommitBytes: m.memory?.usage?.usage ?? 0, MemoryUsageCommitPeakBytes: m.memory?.usage?.max },
    },
  };
}

export function bridgeRoutedHcs(hcs: HcsApi): HcsApi {
  const routed: Partial<HcsApi> = {
    async startComputeSystem(system: HcsSystem) {
      if (!(system instanceof BridgeContainer)) return hcs.startComputeSystem(system);
      await system.gc.startContainer(system.id);
      system.started = true;
    },
    async shutDownComputeSystem(system: HcsSystem) {
      if (!(system instanceof BridgeContainer)) return hcs.shutDownComputeSystem(system);
      if (!system.started || system.gc.hasExited(system.id)) throw new HcsError(HRESULT.HCS_E_SYSTEM_ALREADY_STOPPED, 'GCS', system.id);
      await system.gc.bridge.shutdownContainer(system.id, false);
    },
    async terminateComputeSystem(system: HcsSystem) {
      if (!(system instanceof BridgeContainer)) return hcs.terminateComputeSystem(system);
      if (!system.started || system.gc.hasExited(system.id)) throw new HcsError(HRESULT.HCS_E_SYSTEM_ALREADY_STOPPED, 'GCS', system.id);
      await system.gc.bridge.shutdownContainer(system.id, true);
      await system.gc.waitContainer(system.id);
    },
    async waitForComputeSystemExit(system: HcsSystem) {
      if (!(system instanceof BridgeContainer)) return hcs.waitForComputeSystemExit(system);
      await system.gc.waitContainer(system.id).catch(() => undefined);
    },
    async closeComputeSystem(system: HcsSystem) {
      if (!(system instanceof BridgeContainer)) return hcs.closeComputeSystem(system);
      // the guest keeps a stopped container's state until the host lets it go
      await system.gc.bridge.deleteContainerState(system.id).catch(() => undefined);
    },
    async getComputeSystemProperties(system: HcsSystem, query: PropertyQuery) {
      if (!(system instanceof BridgeContainer)) return hcs.getComputeSystemProperties(system, query);
      return statistics(await system.gc.bridge.getProperties(system.id, query));
    },
    async createProcess(system: HcsSystem, parameters: ProcessParameters): Promise<HcsProcess> {
      if (!(system instanceof BridgeContainer)) return hcs.createProcess(system, parameters);
      const init = system.init === undefined;
      const handle = await system.gc.exec(system.id, lcowProcessParameters(parameters, init));
      if (init) system.init = handle;
      const p: HcsProcess = { pid: handle.pid, stdin: handle.stdin, stdout: handle.stdout, stderr: handle.stderr };
      processes.set(p, { gc: system.gc, handle });
      return p;
    },
    async signalProcess(process: HcsProcess, options: SignalOptions) {
      const b = processes.get(process);
      if (!b) return hcs.signalProcess(process, options);
      if (typeof options.Signal !== 'number') throw new HcsError(HRESULT.E_INVALIDARG, 'GCS', `${options.Signal} is not a signal of a Linux guest`);
      await b.gc.signal(b.handle, options.Signal).catch(alreadyStopped);
    },
    async terminateProcess(process: HcsProcess) {
      const b = processes.get(process);
      if (!b) return hcs.terminateProcess(process);
      await b.gc.signal(b.handle).catch(alreadyStopped);
    },
    async modifyProcess(process: HcsProcess, request: ProcessModifyRequest) {
      const b = processes.get(process);
      if (!b) return hcs.modifyProcess(process, request);
      if (b.handle.exitCode !== undefined) throw new HcsError(HRESULT.HCS_E_PROCESS_ALREADY_STOPPED, 'GCS');
      if (request.Operation === 'ConsoleSize') await b.gc.resize(b.handle, { height: request.ConsoleSize.Height, width: request.ConsoleSize.Width }).catch(alreadyStopped);
      else if (request.Operation === 'CloseHandle') b.handle.stdin?.end();
    },
    async getProcessProperties(process: HcsProcess): Promise<ProcessStatus> {
      const b = processes.get(process);
      if (!b) return hcs.getProcessProperties(process);
      const code = b.handle.exitCode;
      return { ProcessId: b.handle.pid, Exited: code !== undefined, ...(code !== undefined ? { ExitCode: code } : {}) };
    },
    async waitForProcessExit(process: HcsProcess): Promise<ProcessStatus> {
      const b = processes.get(process);
      if (!b) return hcs.waitForProcessExit(process);
      const code = await b.handle.exited;
      return { ProcessId: b.handle.pid, Exited: true, ExitCode: code, LastWaitResult: 0 };
    },
    async closeProcess(process: HcsProcess) {
      if (!processes.has(process)) return hcs.closeProcess(process);
    },
  };
  return new Proxy(hcs, {
    get(target, prop, receiver) {
      if (Object.prototype.hasOwnProperty.call(routed, prop)) return routed[prop as keyof HcsApi];
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}
