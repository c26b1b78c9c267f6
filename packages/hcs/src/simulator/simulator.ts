import type { BackupFiles } from '../backup/files.js';
import { SimulatedNtfs } from './ntfs.js';
import { HRESULT, HcsError } from '../hresult.js';
import { hcsSchemaErrors, settingsDefinition } from '../schema.js';
import { splitCommandLine } from '../builders/commandline.js';
import type { HcsApi, HcsProcess, HcsSystem, SignalOptions, WithId } from '../api.js';
import type {
  ComputeSystem,
  HcnEndpoint,
  HcnNamespace,
  HcnNamespaceModify,
  HcnNetwork,
  ExportLayerOptions,
  LayerData,
  ModifySettingRequest,
  ProcessModifyRequest,
  ProcessParameters,
  ProcessStatus,
  Properties,
  PropertyQuery,
} from '../types.js';
import { DEFAULT_GUEST_USERS, GuestProcess, guestProgram, resolveGuestUser, type GuestOptions } from './guest.js';
import { SimHcn } from './hcn.js';
import { SimStorage, nameToGuid } from './storage.js';
import { planCreate, type SystemState } from './systems.js';
import { SimProcessHandle, SimService, SimSystemHandle, processDetails, type SimSystemRecord } from './service.js';
import { SimHvsock } from './hvsock.js';
import { SimGcs } from './gcs.js';
import { modifyVmDevice } from './vm-devices.js';
import type { LcowGuestCapabilities } from '../gcs/messages.js';
import { randomUUID } from 'node:crypto';

export interface HcsSimulatorOptions extends GuestOptions {
  /** The host's os.version; default Windows Server 2022 `10.0.20348.2340`. */
  hostOsVersion?: string;
  /**
   * Layer folders are real directories (local paths standing for Windows ones): imports,
   * writable layers and layerData must name folders that exist, and HcsImportLayer with
   * no parents makes a base layer (a UtilityVM folder in its source makes it bootable).
   */
  onDisk?: boolean;
  /** Logical processors of the host; default 4. */
  processors?: number;
  /** Environment every guest process starts with under its own (the guest OS' defaults); default busybox-like PATH and the user's HOME. */
  defaultEnv?: (user: { name: string; home: string }) => Record<string, string>;
  /** The most bytes one hvsock write moves at a time (small values cut every bridge frame); default 64 KiB. */
  hvsockChunk?: number;
  /** What the LCOW guests' GCS reports beyond hcsshim's current one (an older GCS: `NamespaceAddRequestSupported: false`). */
  guestCapabilities?: Partial<LcowGuestCapabilities>;
}

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const CTRL_SIGNALS: Record<string, number> = { CtrlC: 2, CtrlBreak: 3, CtrlClose: 1, CtrlLogOff: 1, CtrlShutdown: 15 };

/**
 * An in-memory HCS, HCN and computestorage for Linux: it keeps HCS's state machine
 * (Created → Running ⇄ Paused → Stopped; a system lives until its last handle closes),
 * answers with HCS's HRESULTs, validates every document it receives against
 * hcs-schema2.json, rejects what HCS rejects (an image build the host cannot run:
 * HCS_E_IMAGE_MISMATCH; unknown layers; a hosted container on a VM HCS has no guest
 * connection to...), and runs processes as simulated programs (see guest.ts).
 */
export class HcsSimulator implements HcsApi {
  readonly kind = 'simulator' as const;
  /** Hyper-V sockets between the host and the utility VMs' guests (the GCS bridge and stdio), this client's own. */
  readonly hvsock: SimHvsock;
  readonly hostOsVersion: string;
  readonly processors: number;
  /** Every document this client sent, in order: what the tests inspect. */
  readonly received: { call: string; document: unknown }[] = [];
  private readonly service: SimService;
  /** Handles this client holds: its close() closes them, as the OS does when a process ends. */
  private readonly open = { systems: new Set<SimSystemHandle>(), processes: new Set<SimProcessHandle>() };
  /** A simulator made with `new` is its own service; one from connect() shares another's. */
  private readonly ownsService: boolean;

  constructor(
    private readonly options: HcsSimulatorOptions = {},
    service?: SimService,
  ) {
    this.hostOsVersion = options.hostOsVersion ?? '10.0.20348.2340';
    this.processors = options.processors ?? 4;
    this.hvsock = new SimHvsock(options.hvsockChunk);
    this.service = service ?? new SimService(options.onDisk ?? false, this.hostOsVersion);
    this.ownsService = !service;
  }

  /**
   * Another client of the same service: HCS's state lives in vmcompute, not in the process
   * that made a compute system, so a restarted berthd is handed this and finds what the
   * first one left (closing a client only closes its handles).
   */
  connect(): HcsSimulator {
    return new HcsSimulator(this.options, this.service);
  }

  get storage(): SimStorage {
    return this.service.storage;
  }

  get hcn(): SimHcn {
    return this.service.hcn;
  }

  private get systems(): Map<string, SimSystemRecord> {
    return this.service.systems;
  }

  private get bootFiles(): Set<string> {
    return this.service.bootFiles;
  }

  // ---- what a real host has on disk ----

  /** A base layer as HcsSetupBaseOSLayer / ProcessBaseLayer left it. */
  addBaseLayer(path: string, info: { osVersion: string; os?: 'windows' | 'linux'; utilityVm?: boolean }): void {
    this.storage.addBaseLayer(path, info);
  }

  /** LinuxBootFiles: `kernel`, `initrd.img` (and `rootfs.vhd`) in this folder. */
  addLinuxBootFiles(dir: string, files = ['kernel', 'initrd.img']): void {
    for (const f of files) this.bootFiles.add(`${dir}\\${f}`.toLowerCase());
  }

  private record(call: string, document: unknown): void {
    this.received.push({ call, document: structuredClone(document) });
  }

  private validate(call: string, def: Parameters<typeof hcsSchemaErrors>[0], doc: unknown): void {
    this.record(call, doc);
    const errors = hcsSchemaErrors(def, doc);
    if (errors.length) throw new HcsError(HRESULT.HCS_E_INVALID_JSON, call, errors.join('; '));
  }

  private sys(h: HcsSystem, op: string): SimSystemRecord {
    const handle = h as SimSystemHandle;
    if (!(handle instanceof SimSystemHandle) || handle.closed) throw new HcsError(HRESULT.ERROR_INVALID_HANDLE, op);
    return handle.record;
  }

  private proc(h: HcsProcess, op: string): SimProcessHandle {
    const handle = h as SimProcessHandle;
    if (!(handle instanceof SimProcessHandle) || handle.closed) throw new HcsError(HRESULT.ERROR_INVALID_HANDLE, op);
    return handle;
  }

  private handle(r: SimSystemRecord): SimSystemHandle {
    const h = new SimSystemHandle(r.id, r);
    r.handles.add(h);
    this.open.systems.add(h);
    return h;
  }

  private hostView() {
    return {
      storage: this.storage,
      hcn: this.hcn,
      hostOsVersion: this.hostOsVersion,
      processors: this.processors,
      bootFiles: this.bootFiles,
      vm: (id: string) => {
        const r = this.systems.get(id.toLowerCase());
        return r?.kind === 'VirtualMachine' && r.vm ? { state: r.state, vm: r.vm, guestOs: r.guestOs } : undefined;
      },
    };
  }

  // ---- compute systems ----

  async enumerateComputeSystems(query: { Owners?: string[]; Ids?: string[] } = {}): Promise<Properties[]> {
    return [...this.systems.values()]
      .filter((r) => (!query.Owners || query.Owners.includes(r.doc.Owner)) && (!query.Ids || query.Ids.includes(r.id)))
      .map((r) => this.properties(r, []));
  }

  async createComputeSystem(id: string, document: ComputeSystem): Promise<HcsSystem> {
    this.record('HcsCreateComputeSystem', document);
    if (this.systems.has(id.toLowerCase())) throw new HcsError(HRESULT.HCS_E_SYSTEM_ALREADY_EXISTS, 'HcsCreateComputeSystem', id);
    const plan = planCreate(document, this.hostView());
    const r: SimSystemRecord = { ...plan, id, runtimeId: randomUUID(), doc: structuredClone(document), state: 'Created', processes: new Map(), handles: new Set(), exitWaiters: [], thaw: [] };
    this.systems.set(id.toLowerCase(), r);
    return this.handle(r);
  }

  async openComputeSystem(id: string): Promise<HcsSystem> {
    const r = this.systems.get(id.toLowerCase());
    if (!r) throw new HcsError(HRESULT.HCS_E_SYSTEM_NOT_FOUND, 'HcsOpenComputeSystem', id);
    return this.handle(r);
  }

  async startComputeSystem(system: HcsSystem): Promise<void> {
    const r = this.sys(system, 'HcsStartComputeSystem');
    if (r.state === 'Stopped') throw new HcsError(HRESULT.HCS_E_SYSTEM_ALREADY_STOPPED, 'HcsStartComputeSystem', r.id);
    if (r.state !== 'Created') throw new HcsError(HRESULT.HCS_E_INVALID_STATE, 'HcsStartComputeSystem', `${r.id} is ${r.state}`);
    if (r.hostingSystemId) {
      const host = this.systems.get(r.hostingSystemId.toLowerCase());
      if (host?.state !== 'Running') throw new HcsError(HRESULT.HCS_E_CONNECTION_CLOSED, 'HcsStartComputeSystem', 'the utility VM is not running');
    }
    r.state = 'Running';
    r.startedAt = Date.now();
    // a Linux guest whose connection HCS does not own: its GCS dials the host (hcsshim's LCOW path)
    if (r.vm && r.guestOs === 'linux' && !r.vm.guestConnection) {
      r.gcs = new SimGcs({ runtimeId: r.runtimeId, scsi: r.vm.scsi, plan9: r.vm.plan9, nics: r.vm.nics, thawed: () => this.thawed(r) }, this.hvsock, this.options);
      r.gcs.connect();
    }
  }

  private stop(r: SimSystemRecord, exitType: string): void {
    if (r.state === 'Stopped') return;
    const paused = r.state === 'Paused';
    r.state = 'Stopped';
    r.exitType = exitType;
    r.gcs?.stop();
    for (const p of r.processes.values()) p.terminate(r.guestOs === 'linux' ? 137 : 1);
    if (paused) for (const t of r.thaw.splice(0)) t();
    for (const hosted of this.systems.values()) if (hosted.hostingSystemId?.toLowerCase() === r.id.toLowerCase()) this.stop(hosted, 'UnexpectedExit');
    for (const w of r.exitWaiters.splice(0)) w();
    if (r.handles.size === 0) this.systems.delete(r.id.toLowerCase());
  }

  async shutDownComputeSystem(system: HcsSystem): Promise<void> {
    const r = this.sys(system, 'HcsShutDownComputeSystem');
    if (r.state === 'Stopped') throw new HcsError(HRESULT.HCS_E_SYSTEM_ALREADY_STOPPED, 'HcsShutDownComputeSystem', r.id);
    this.stop(r, 'GracefulExit');
  }

  async terminateComputeSystem(system: HcsSystem): Promise<void> {
    const r = this.sys(system, 'HcsTerminateComputeSystem');
    if (r.state === 'Stopped') throw new HcsError(HRESULT.HCS_E_SYSTEM_ALREADY_STOPPED, 'HcsTerminateComputeSystem', r.id);
    this.stop(r, 'ForcedExit');
  }

  async pauseComputeSystem(system: HcsSystem): Promise<void> {
    const r = this.sys(system, 'HcsPauseComputeSystem');
    // Windows Server containers cannot be frozen (moby refuses docker pause on them); VMs can
    if (r.kind === 'Container' && r.isolation === 'process') throw new HcsError(HRESULT.HCS_E_SYSTEM_NOT_CONFIGURED_FOR_OPERATION, 'HcsPauseComputeSystem', 'process-isolated containers cannot be paused');
    if (r.state !== 'Running') throw new HcsError(HRESULT.HCS_E_INVALID_STATE, 'HcsPauseComputeSystem', `${r.id} is ${r.state}`);
    r.state = 'Paused';
  }

  async resumeComputeSystem(system: HcsSystem): Promise<void> {
    const r = this.sys(system, 'HcsResumeComputeSystem');
    if (r.state !== 'Paused') throw new HcsError(HRESULT.HCS_E_INVALID_STATE, 'HcsResumeComputeSystem', `${r.id} is ${r.state}`);
    r.state = 'Running';
    for (const t of r.thaw.splice(0)) t();
  }

  private properties(r: SimSystemRecord, types: string[]): Properties {
    const running = [...r.processes.values()].filter((p) => p.running);
    const uptimeMs = r.startedAt && r.state !== 'Stopped' ? Date.now() - r.startedAt : 0;
    return {
      Id: r.id,
      RuntimeId: r.runtimeId,
      SystemType: r.kind,
      RuntimeOsType: r.guestOs === 'linux' ? 'Linux' : 'Windows',
      Owner: r.doc.Owner,
      State: r.state,
      ...(r.state === 'Stopped' ? { Stopped: true, ExitType: r.exitType ?? 'None' } : {}),
      ...(r.hostingSystemId ? { HostingSystemId: r.hostingSystemId } : {}),
      ...(types.includes('Statistics')
        ? {
            Statistics: {
              Timestamp: new Date().toISOString(),
              ...(r.startedAt ? { ContainerStartTime: new Date(r.startedAt).toISOString() } : {}),
              Uptime100ns: uptimeMs * 10_000,
              // a simulated guest spends about 1% of its wall time on the CPU
              Processor: { TotalRuntime100ns: uptimeMs * 100, RuntimeUser100ns: uptimeMs * 70, RuntimeKernel100ns: uptimeMs * 30 },
              Memory: { MemoryUsageCommitBytes: (16 + 4 * running.length) << 20, MemoryUsageCommitPeakBytes: (16 + 4 * r.processes.size) << 20, MemoryUsagePrivateWorkingSetBytes: (8 + 2 * running.length) << 20 },
            },
          }
        : {}),
      ...(types.includes('ProcessList')
        ? { ProcessList: running.map((p) => processDetails(p, r.guestOs)) }
        : {}),
    };
  }

  async getComputeSystemProperties(system: HcsSystem, query: PropertyQuery): Promise<Properties> {
    const r = this.sys(system, 'HcsGetComputeSystemProperties');
    this.validate('HcsGetComputeSystemProperties', 'PropertyQuery', query);
    return this.properties(r, query.PropertyTypes ?? []);
  }

  async modifyComputeSystem(system: HcsSystem, request: ModifySettingRequest): Promise<void> {
    const r = this.sys(system, 'HcsModifyComputeSystem');
    this.validate('HcsModifyComputeSystem', 'ModifySettingRequest', request);
    const def = settingsDefinition(request.ResourcePath);
    if (!def || !r.vm) throw new HcsError(HRESULT.E_NOTIMPL, 'HcsModifyComputeSystem', `${request.ResourcePath ?? '(no path)'} is not simulated on a ${r.kind}`);
    const errors = hcsSchemaErrors(def, request.Settings);
    if (errors.length) throw new HcsError(HRESULT.HCS_E_INVALID_JSON, 'HcsModifyComputeSystem', `${def}: ${errors.join('; ')}`);
    if (r.state !== 'Running') throw new HcsError(HRESULT.HCS_E_INVALID_STATE, 'HcsModifyComputeSystem', `${r.id} is ${r.state}`);
    modifyVmDevice(r.vm, def, request, { onDisk: this.storage.onDisk, hcn: this.hcn });
  }

  async waitForComputeSystemExit(system: HcsSystem): Promise<void> {
    const r = this.sys(system, 'HcsWaitForComputeSystemExit');
    if (r.state === 'Stopped') return;
    await new Promise<void>((resolve) => r.exitWaiters.push(resolve));
  }

  async closeComputeSystem(system: HcsSystem): Promise<void> {
    const h = system as SimSystemHandle;
    if (!(h instanceof SimSystemHandle) || h.closed) return;
    h.closed = true;
    this.open.systems.delete(h);
    const r = h.record;
    r.handles.delete(h);
    if (r.handles.size > 0) return;
    if (r.doc.ShouldTerminateOnLastHandleClosed) this.stop(r, 'ForcedExit');
    if (r.state === 'Stopped' && this.systems.get(r.id.toLowerCase()) === r) this.systems.delete(r.id.toLowerCase());
  }

  // ---- processes ----

  private frozen(r: SimSystemRecord): boolean {
    const host = r.hostingSystemId ? this.systems.get(r.hostingSystemId.toLowerCase()) : undefined;
    return r.state === 'Paused' || host?.state === 'Paused';
  }

  private thawed(r: SimSystemRecord): Promise<void> {
    if (!this.frozen(r)) return Promise.resolve();
    const host = r.hostingSystemId ? this.systems.get(r.hostingSystemId.toLowerCase()) : undefined;
    return new Promise<void>((resolve) => (host?.state === 'Paused' ? host : r).thaw.push(resolve)).then(() => this.thawed(r));
  }

  async createProcess(system: HcsSystem, parameters: ProcessParameters): Promise<HcsProcess> {
    const r = this.sys(system, 'HcsCreateProcess');
    this.validate('HcsCreateProcess', 'ProcessParameters', parameters);
    if (r.kind !== 'Container') throw new HcsError(HRESULT.HCS_E_SYSTEM_NOT_CONFIGURED_FOR_OPERATION, 'HcsCreateProcess', 'processes of a utility VM are the guest\'s');
    if (r.state !== 'Running' || this.frozen(r)) throw new HcsError(HRESULT.HCS_E_INVALID_STATE, 'HcsCreateProcess', `${r.id} is ${r.state}`);
    const args = r.guestOs === 'linux' && parameters.CommandArgs?.length ? parameters.CommandArgs : splitCommandLine(parameters.CommandLine ?? '');
    if (args.length === 0) throw new HcsError(HRESULT.E_INVALIDARG, 'HcsCreateProcess', 'empty command line');
    const users = this.options.users ?? DEFAULT_GUEST_USERS;
    const user = resolveGuestUser(parameters.User, users);
    if (!user) throw new HcsError(HRESULT.ERROR_NONE_MAPPED, 'HcsCreateProcess', `no account ${parameters.User ?? ''}`);
    const env = { ...(this.options.defaultEnv?.(user) ?? { PATH: DEFAULT_PATH, HOME: user.home }), ...(parameters.Environment ?? {}) };
    const initArgs = r.initArgs ?? args;
    // a process-isolated container's files are the host's mounted scratch (read before the options' files)
    const volume = r.kind === 'Container' && r.isolation === 'process' ? r.doc.Container!.Storage.Path : undefined;
    const rootDir = volume ? this.storage.hostDir(volume) : undefined;
    r.initArgs = initArgs;
    const pid = 4 * this.service.nextPid++;
    const proc = new GuestProcess(
      {
        pid,
        args,
        env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
        cwd: parameters.WorkingDirectory ?? (r.guestOs === 'linux' ? '/' : 'C:\\'),
        user,
        tty: parameters.EmulateConsole ?? false,
        consoleSize: parameters.ConsoleSize ? { height: parameters.ConsoleSize[0]!, width: parameters.ConsoleSize[1]! } : undefined,
        stdin: parameters.CreateStdInPipe ?? false,
        stdout: parameters.CreateStdOutPipe ?? false,
        stderr: parameters.CreateStdErrPipe ?? false,
        initArgs,
        ...(rootDir && volume ? { rootDir, files: { read: (path: string) => this.storage.guestRead(volume, path), write: (path: string, data: Buffer | string) => this.storage.guestWrite(volume, path, Buffer.from(data)), remove: (path: string) => this.storage.guestRemove(volume, path) } } : {}),
        thawed: () => this.thawed(r),
      },
      guestProgram(args, this.options),
      this.options,
    );
    r.processes.set(pid, proc);
    return this.processHandle(r, proc);
  }

  async signalProcess(process: HcsProcess, options: SignalOptions): Promise<void> {
    const h = this.proc(process, 'HcsSignalProcess');
    this.record('HcsSignalProcess', options);
    let n: number | undefined;
    if (h.system.guestOs === 'windows') n = typeof options.Signal === 'string' ? CTRL_SIGNALS[options.Signal] : undefined;
    else n = typeof options.Signal === 'number' && options.Signal > 0 && options.Signal < 65 ? options.Signal : undefined;
    if (n === undefined) throw new HcsError(HRESULT.E_INVALIDARG, 'HcsSignalProcess', `${JSON.stringify(options.Signal)} is not a signal of a ${h.system.guestOs} guest`);
    if (!h.proc.running) throw new HcsError(HRESULT.HCS_E_PROCESS_ALREADY_STOPPED, 'HcsSignalProcess');
    h.proc.signal(n);
  }

  async terminateProcess(process: HcsProcess): Promise<void> {
    const h = this.proc(process, 'HcsTerminateProcess');
    if (!h.proc.running) throw new HcsError(HRESULT.HCS_E_PROCESS_ALREADY_STOPPED, 'HcsTerminateProcess');
    // TerminateProcess(h, 1) in a Windows guest; SIGKILL in a Linux one
    h.proc.terminate(h.system.guestOs === 'linux' ? 137 : 1);
  }

  async modifyProcess(process: HcsProcess, request: ProcessModifyRequest): Promise<void> {
    const h = this.proc(process, 'HcsModifyProcess');
    this.validate('HcsModifyProcess', 'ProcessModifyRequest', request);
    if (!h.proc.running) throw new HcsError(HRESULT.HCS_E_PROCESS_ALREADY_STOPPED, 'HcsModifyProcess');
    if (request.Operation === 'ConsoleSize') h.proc.resize({ height: request.ConsoleSize.Height, width: request.ConsoleSize.Width });
    else if (request.Operation === 'CloseHandle' && (request.CloseHandle.Handle === 'StdIn' || request.CloseHandle.Handle === 'All')) h.proc.closeStdin();
  }

  private status(p: GuestProcess): ProcessStatus {
    return { ProcessId: p.spec.pid, Exited: !p.running, ...(p.running ? {} : { ExitCode: p.exitCode! }), LastWaitResult: 0 };
  }

  async getProcessProperties(process: HcsProcess): Promise<ProcessStatus> {
    return this.status(this.proc(process, 'HcsGetProcessProperties').proc);
  }

  async waitForProcessExit(process: HcsProcess): Promise<ProcessStatus> {
    const h = this.proc(process, 'HcsWaitForProcessExit');
    await h.proc.exited;
    return this.status(h.proc);
  }

  private processHandle(r: SimSystemRecord, proc: GuestProcess): SimProcessHandle {
    const h = new SimProcessHandle(r, proc);
    this.open.processes.add(h);
    return h;
  }

  /**
   * HcsOpenProcess, then HcsGetProcessInfo for its stdio: the service holds the pipes' far
   * ends, so what the process wrote while nobody read is still there for the new owner.
   * (Whether vmcompute hands the pipes of a process to a second owner is a Windows host's to prove.)
   */
  async openProcess(system: HcsSystem, pid: number): Promise<HcsProcess> {
    const r = this.sys(system, 'HcsOpenProcess');
    const proc = r.processes.get(pid);
    if (!proc) throw new HcsError(HRESULT.ERROR_NOT_FOUND, 'HcsOpenProcess', `no process ${pid} in ${r.id}`);
    return this.processHandle(r, proc);
  }

  async closeProcess(process: HcsProcess): Promise<void> {
    const h = process as SimProcessHandle;
    if (!(h instanceof SimProcessHandle)) return;
    h.closed = true;
    this.open.processes.delete(h);
  }

  // ---- storage ----

  async layerId(folderName: string): Promise<string> {
    return nameToGuid(folderName);
  }

  async importLayer(layerPath: string, sourceFolder: string, layerData: LayerData): Promise<void> {
    this.validate('HcsImportLayer', 'LayerData', layerData);
    this.storage.importLayer(layerPath, sourceFolder, layerData);
  }

  async exportLayer(layerPath: string, exportFolder: string, layerData: LayerData, options: ExportLayerOptions): Promise<void> {
    this.validate('HcsExportLayer', 'LayerData', layerData);
    this.validate('HcsExportLayer', 'ExportLayerOptions', options);
    if (!options.IsWritableLayer) throw new HcsError(HRESULT.E_NOTIMPL, 'HcsExportLayer', 'only writable layers are exported here');
    this.storage.checkLayerData('HcsExportLayer', layerData);
    this.storage.exportWritable(layerPath, exportFolder);
  }

  async initializeWritableLayer(writableLayerPath: string, layerData: LayerData): Promise<void> {
    this.validate('HcsInitializeWritableLayer', 'LayerData', layerData);
    this.storage.initializeWritable(writableLayerPath, layerData);
  }

  async attachLayerStorageFilter(layerPath: string, layerData: LayerData): Promise<void> {
    this.validate('HcsAttachLayerStorageFilter', 'LayerData', layerData);
    this.storage.attachFilter(layerPath, layerData);
  }

  async detachLayerStorageFilter(layerPath: string): Promise<void> {
    this.storage.detachFilter(layerPath);
  }

  async destroyLayer(layerPath: string): Promise<void> {
    this.storage.destroy(layerPath);
  }

  async mountWritableLayer(writableLayerPath: string, layerData: LayerData): Promise<string> {
    this.validate('PrepareLayer', 'LayerData', layerData);
    return this.storage.mount(writableLayerPath, layerData);
  }

  async unmountWritableLayer(writableLayerPath: string): Promise<void> {
    this.storage.unmount(writableLayerPath);
  }

  /** BackupRead/BackupWrite over the simulator's folders (ntfs.ts). */
  readonly backup: BackupFiles = new SimulatedNtfs();

  /** The real directory standing for the mounted scratch (what the guest's programs read first). */
  volumeHostPath(volume: string): string {
    const dir = this.storage.hostDir(volume);
    if (!dir) throw new HcsError(HRESULT.ERROR_PATH_NOT_FOUND, 'GetLayerMountPath', `${volume} is not a mounted scratch`);
    return dir;
  }

  // ---- HCN ----

  async enumerateNetworks(): Promise<string[]> {
    return [...this.hcn.networks.keys()];
  }

  async createNetwork(id: string, settings: HcnNetwork): Promise<void> {
    this.record('HcnCreateNetwork', settings);
    this.hcn.createNetwork(id, settings);
  }

  async queryNetworkProperties(id: string): Promise<WithId<HcnNetwork>> {
    return structuredClone(this.hcn.network(id));
  }

  async deleteNetwork(id: string): Promise<void> {
    this.hcn.deleteNetwork(id);
  }

  async enumerateEndpoints(): Promise<string[]> {
    return [...this.hcn.endpoints.keys()];
  }

  async createEndpoint(networkId: string, id: string, settings: HcnEndpoint): Promise<void> {
    this.record('HcnCreateEndpoint', settings);
    this.hcn.createEndpoint(networkId, id, settings);
  }

  async queryEndpointProperties(id: string): Promise<WithId<HcnEndpoint>> {
    const { network: _n, ...e } = this.hcn.endpoint(id);
    return structuredClone(e);
  }

  async deleteEndpoint(id: string): Promise<void> {
    this.hcn.deleteEndpoint(id);
  }

  async createNamespace(id: string, settings: HcnNamespace): Promise<void> {
    this.record('HcnCreateNamespace', settings);
    this.hcn.createNamespace(id, settings);
  }

  async modifyNamespace(id: string, request: HcnNamespaceModify): Promise<void> {
    this.record('HcnModifyNamespace', request);
    this.hcn.modifyNamespace(id, request);
  }

  async queryNamespaceProperties(id: string) {
    const ns = this.hcn.namespace(id);
    return { ...structuredClone(ns.settings), ID: id.toLowerCase(), Resources: [...ns.endpoints].map((e) => ({ Type: 'Endpoint', Data: { Id: e } })) };
  }

  async deleteNamespace(id: string): Promise<void> {
    this.hcn.deleteNamespace(id);
  }

  /**
   * Closes every handle this client holds (a compute system whose document asks for it
   * ends with its last handle). A simulator made with `new` is its own service and also
   * removes the directories standing for scratches, its only state on disk; a client
   * from connect() leaves the service as it is.
   */
  async close(): Promise<void> {
    for (const p of [...this.open.processes]) await this.closeProcess(p);
    for (const s of [...this.open.systems]) await this.closeComputeSystem(s);
    if (this.ownsService) this.storage.removeHostDirs();
  }

  /** The GCS of a running Linux utility VM that dials the host (tests break its connection). */
  guestOf(id: string): SimGcs | undefined {
    return this.systems.get(id.toLowerCase())?.gcs;
  }

  /** The compute system's state as HCS reports it, or undefined once it is gone. */
  stateOf(id: string): SystemState | undefined {
    return this.systems.get(id.toLowerCase())?.state;
  }
}
