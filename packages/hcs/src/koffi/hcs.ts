/**
 * HcsApi over the real DLLs (computecore, computestorage, computenetwork, vmcompute).
 * Every HCS call goes through an operation whose completion arrives on a registered
 * callback; exits arrive through HcsSetComputeSystemCallback/HcsSetProcessCallback events.
 * Only a Windows host runs this: on Linux the tests prove the prototypes parse and that
 * openKoffiHcs refuses clearly.
 */
import type { BackupFiles } from '../backup/files.js';
import { Win32BackupFiles } from './backup.js';
import { dirname, basename } from 'node:path/win32';
import type { Socket } from 'node:net';
import type { HcsApi, HcsProcess, HcsSystem, SignalOptions, WithId } from '../api.js';
import { HRESULT, HcsError } from '../hresult.js';
import type { ComputeSystem, ExportLayerOptions, HcnEndpoint, HcnNamespace, HcnNamespaceModify, HcnNetwork, LayerData, ModifySettingRequest, ProcessModifyRequest, ProcessParameters, ProcessStatus, Properties, PropertyQuery } from '../types.js';
import { check, guidToString, type Native, type RegisteredCallback } from './native.js';
import type { KoffiModule } from './prototypes.js';

/** computecore's HCS_EVENT_TYPE values Berth listens for. */
export const HcsEventSystemExited = 0x00000001;
export const HcsEventProcessExited = 0x00010000;

/**
 * The HCS_EVENT_CALLBACK body: HCS hands a pointer to an HCS_EVENT (koffi passes pointer
 * arguments of callbacks undecoded), and only the exit event matters.
 */
export function exitEventCallback(koffi: KoffiModule, exitEvent: number, onExit: () => void): (eventPtr: unknown, context: unknown) => void {
  return (eventPtr) => {
    const event = koffi.decode(eventPtr, 'HCS_EVENT') as { Type: number };
    if (event.Type === exitEvent) onExit();
  };
}
const GENERIC_ALL = 0x10000000;
/** wclayer's DriverInfo.Flavour for filter-driver layers. */
const FILTER_DRIVER = 1;

class KoffiSystem implements HcsSystem {
  exited = false;
  readonly exitWaiters: (() => void)[] = [];
  callback: RegisteredCallback | undefined;
  constructor(
    readonly id: string,
    readonly handle: unknown,
  ) {}
}

class KoffiProcess implements HcsProcess {
  exited = false;
  readonly exitWaiters: (() => void)[] = [];
  callback: RegisteredCallback | undefined;
  constructor(
    readonly pid: number,
    readonly handle: unknown,
    readonly stdin: Socket | null,
    readonly stdout: Socket | null,
    readonly stderr: Socket | null,
  ) {}
}

const json = (v: unknown): string => JSON.stringify(v);
const parse = <T>(s: string | undefined): T => (s ? (JSON.parse(s) as T) : (undefined as T));

export class KoffiHcs implements HcsApi {
  readonly kind = 'koffi' as const;

  readonly backup: BackupFiles;

  constructor(private readonly n: Native) {
    this.backup = new Win32BackupFiles(n);
  }

  private sys(s: HcsSystem): KoffiSystem {
    if (!(s instanceof KoffiSystem)) throw new HcsError(HRESULT.ERROR_INVALID_HANDLE, 'HcsSystem');
    return s;
  }

  private proc(p: HcsProcess): KoffiProcess {
    if (!(p instanceof KoffiProcess)) throw new HcsError(HRESULT.ERROR_INVALID_HANDLE, 'HcsProcess');
    return p;
  }

  /** Exit notifications: HCS calls back on its thread; koffi runs this on ours. */
  private watch(target: KoffiSystem | KoffiProcess, setter: 'HcsSetComputeSystemCallback' | 'HcsSetProcessCallback', exitEvent: number): void {
    const onEvent = exitEventCallback(this.n.koffi, exitEvent, () => {
      if (target.exited) return;
      target.exited = true;
      for (const w of target.exitWaiters.splice(0)) w();
    });
    target.callback = this.n.register('HCS_EVENT_CALLBACK', onEvent as (...args: never[]) => void);
    check(this.n.fn(setter)(target.handle, 0, null, target.callback) as number, setter);
  }

  // ---- compute systems ----

  async enumerateComputeSystems(query: { Owners?: string[]; Ids?: string[] } = {}): Promise<Properties[]> {
    return parse<Properties[]>(await this.n.operation('HcsEnumerateComputeSystems', (op) => this.n.fn('HcsEnumerateComputeSystems')(json(query), op) as number)) ?? [];
  }

  async createComputeSystem(id: string, document: ComputeSystem): Promise<HcsSystem> {
    const out: unknown[] = [null];
    await this.n.operation('HcsCreateComputeSystem', (op) => this.n.fn('HcsCreateComputeSystem')(id, json(document), op, null, out) as number);
    const s = new KoffiSystem(id, out[0]);
    this.watch(s, 'HcsSetComputeSystemCallback', HcsEventSystemExited);
    return s;
  }

  async openComputeSystem(id: string): Promise<HcsSystem> {
    const out: unknown[] = [null];
    check((await this.n.async('HcsOpenComputeSystem', id, GENERIC_ALL, out)) as number, 'HcsOpenComputeSystem', id);
    const s = new KoffiSystem(id, out[0]);
    this.watch(s, 'HcsSetComputeSystemCallback', HcsEventSystemExited);
    return s;
  }

  private async systemCall(name: string, system: HcsSystem, options: unknown = null): Promise<string | undefined> {
    const s = this.sys(system);
    return this.n.operation(name, (op) => this.n.fn(name)(s.handle, op, options === null ? null : json(options)) as number);
  }

  async startComputeSystem(system: HcsSystem): Promise<void> {
    await this.systemCall('HcsStartComputeSystem', system);
  }
  async shutDownComputeSystem(system: HcsSystem): Promise<void> {
    await this.systemCall('HcsShutDownComputeSystem', system);
  }
  async terminateComputeSystem(system: HcsSystem): Promise<void> {
    await this.systemCall('HcsTerminateComputeSystem', system);
  }
  async pauseComputeSystem(system: HcsSystem): Promise<void> {
    await this.systemCall('HcsPauseComputeSystem', system);
  }
  async resumeComputeSystem(system: HcsSystem): Promise<void> {
    await this.systemCall('HcsResumeComputeSystem', system);
  }
  async getComputeSystemProperties(system: HcsSystem, query: PropertyQuery): Promise<Properties> {
    return parse<Properties>(await this.systemCall('HcsGetComputeSystemProperties', system, query));
  }
  async modifyComputeSystem(system: HcsSystem, request: ModifySettingRequest): Promise<void> {
    const s = this.sys(system);
    await this.n.operation('HcsModifyComputeSystem', (op) => this.n.fn('HcsModifyComputeSystem')(s.handle, op, json(request), null) as number);
  }
  async waitForComputeSystemExit(system: HcsSystem): Promise<void> {
    const s = this.sys(system);
    if (!s.exited) await new Promise<void>((r) => s.exitWaiters.push(r));
  }
  async closeComputeSystem(system: HcsSystem): Promise<void> {
    const s = this.sys(system);
    this.n.fn('HcsCloseComputeSystem')(s.handle);
    if (s.callback !== undefined) this.n.unregister(s.callback);
    s.callback = undefined;
  }

  // ---- processes ----

  async createProcess(system: HcsSystem, parameters: ProcessParameters): Promise<HcsProcess> {
    const s = this.sys(system);
    const out: unknown[] = [null];
    const { info } = await this.n.processOperation('HcsCreateProcess', (op) => this.n.fn('HcsCreateProcess')(s.handle, json(parameters), op, null, out) as number);
    const p = new KoffiProcess(info.ProcessId, out[0], this.n.pipe(info.StdInput, 'write'), this.n.pipe(info.StdOutput, 'read'), this.n.pipe(info.StdError, 'read'));
    this.watch(p, 'HcsSetProcessCallback', HcsEventProcessExited);
    return p;
  }

  async openProcess(system: HcsSystem, pid: number): Promise<HcsProcess> {
    const s = this.sys(system);
    const out: unknown[] = [null];
    check((await this.n.async('HcsOpenProcess', s.handle, pid, GENERIC_ALL, out)) as number, 'HcsOpenProcess', String(pid));
    // the pipes as HCS still holds them; a process whose pipes are gone is reopened without stdio
    const info = await this.n
      .processOperation('HcsGetProcessInfo', (op) => this.n.fn('HcsGetProcessInfo')(out[0], op) as number)
      .then((r) => r.info)
      .catch(() => undefined);
    const p = new KoffiProcess(pid, out[0], this.n.pipe(info?.StdInput, 'write'), this.n.pipe(info?.StdOutput, 'read'), this.n.pipe(info?.StdError, 'read'));
    this.watch(p, 'HcsSetProcessCallback', HcsEventProcessExited);
    return p;
  }

  private async processCall(name: string, process: HcsProcess, options: unknown): Promise<string | undefined> {
    const p = this.proc(process);
    return this.n.operation(name, (op) => this.n.fn(name)(p.handle, op, options === null ? null : json(options)) as number);
  }

  async signalProcess(process: HcsProcess, options: SignalOptions): Promise<void> {
    await this.processCall('HcsSignalProcess', process, options);
  }
  async terminateProcess(process: HcsProcess): Promise<void> {
    await this.processCall('HcsTerminateProcess', process, null);
  }
  async modifyProcess(process: HcsProcess, request: ProcessModifyRequest): Promise<void> {
    await this.processCall('HcsModifyProcess', process, request);
  }
  async getProcessProperties(process: HcsProcess): Promise<ProcessStatus> {
    return parse<ProcessStatus>(await this.processCall('HcsGetProcessProperties', process, null));
  }
  async waitForProcessExit(process: HcsProcess): Promise<ProcessStatus> {
    const p = this.proc(process);
    if (!p.exited) await new Promise<void>((r) => p.exitWaiters.push(r));
    return this.getProcessProperties(p);
  }
  async closeProcess(process: HcsProcess): Promise<void> {
    const p = this.proc(process);
    this.n.fn('HcsCloseProcess')(p.handle);
    if (p.callback !== undefined) this.n.unregister(p.callback);
    p.callback = undefined;
  }

  // ---- storage ----

  async layerId(folderName: string): Promise<string> {
    const g = {} as { Data1: number; Data2: number; Data3: number; Data4: number[] };
    check(await this.n.async('NameToGuid', folderName, g), 'NameToGuid', folderName);
    return guidToString(g);
  }
  async importLayer(layerPath: string, sourceFolder: string, layerData: LayerData): Promise<void> {
    check(await this.n.async('HcsImportLayer', layerPath, sourceFolder, json(layerData)), 'HcsImportLayer', layerPath);
  }
  async exportLayer(layerPath: string, exportFolder: string, layerData: LayerData, options: ExportLayerOptions): Promise<void> {
    check(await this.n.async('HcsExportLayer', layerPath, exportFolder, json(layerData), json(options)), 'HcsExportLayer', layerPath);
  }
  async initializeWritableLayer(writableLayerPath: string, layerData: LayerData): Promise<void> {
    check(await this.n.async('HcsInitializeWritableLayer', writableLayerPath, json(layerData), null), 'HcsInitializeWritableLayer', writableLayerPath);
  }
  async attachLayerStorageFilter(layerPath: string, layerData: LayerData): Promise<void> {
    check(await this.n.async('HcsAttachLayerStorageFilter', layerPath, json(layerData)), 'HcsAttachLayerStorageFilter', layerPath);
  }
  async detachLayerStorageFilter(layerPath: string): Promise<void> {
    check(await this.n.async('HcsDetachLayerStorageFilter', layerPath), 'HcsDetachLayerStorageFilter', layerPath);
  }
  async destroyLayer(layerPath: string): Promise<void> {
    check(await this.n.async('HcsDestroyLayer', layerPath), 'HcsDestroyLayer', layerPath);
  }

  /** wclayer's calls take the layer's parent folder (HomeDir) and its folder name (id). */
  private driverInfo(path: string) {
    return { info: { Flavour: FILTER_DRIVER, HomeDir: dirname(path) }, id: basename(path) };
  }

  async mountWritableLayer(writableLayerPath: string, layerData: LayerData): Promise<string> {
    const { info, id } = this.driverInfo(writableLayerPath);
    check(await this.n.async('ActivateLayer', info, id), 'ActivateLayer', writableLayerPath);
    const descriptors = await Promise.all(layerData.Layers.map(async (l) => ({ LayerId: this.n.guid(l.Id), Flags: 0, Pathp: l.Path })));
    check(await this.n.async('PrepareLayer', info, id, descriptors, descriptors.length), 'PrepareLayer', writableLayerPath);
    const length = [260n];
    const buffer = Buffer.alloc(2 * 260);
    check(await this.n.async('GetLayerMountPath', info, id, length, buffer), 'GetLayerMountPath', writableLayerPath);
    const path = buffer.toString('utf16le').replace(/\0.*$/s, '');
    return path.endsWith('\\') ? path : `${path}\\`;
  }
  async unmountWritableLayer(writableLayerPath: string): Promise<void> {
    const { info, id } = this.driverInfo(writableLayerPath);
    check(await this.n.async('UnprepareLayer', info, id), 'UnprepareLayer', writableLayerPath);
    check(await this.n.async('DeactivateLayer', info, id), 'DeactivateLayer', writableLayerPath);
  }

  volumeHostPath(volume: string): string {
    return volume;
  }

  // ---- HCN: open, act, close; errors come with a JSON error record ----

  private async hcn(name: string, ...args: unknown[]): Promise<void> {
    const error: unknown[] = [null];
    const hr = await this.n.async(name, ...args, error);
    check(hr, name, this.n.takeHcnString(error[0]));
  }

  private async hcnWith<T>(kind: 'Network' | 'Endpoint' | 'Namespace', id: string, act: (handle: unknown) => Promise<T>): Promise<T> {
    const handle: unknown[] = [null];
    await this.hcn(`HcnOpen${kind}`, this.n.guid(id), handle);
    try {
      return await act(handle[0]);
    } finally {
      this.n.fn(`HcnClose${kind}`)(handle[0]);
    }
  }

  private async hcnQuery<T>(kind: 'Network' | 'Endpoint' | 'Namespace', id: string): Promise<T> {
    return this.hcnWith(kind, id, async (h) => {
      const props: unknown[] = [null];
      await this.hcn(`HcnQuery${kind}Properties`, h, json({ SchemaVersion: { Major: 2, Minor: 0 } }), props);
      return parse<T>(this.n.takeHcnString(props[0]));
    });
  }

  private async hcnEnumerate(kind: string, query: { Filter?: string } = {}): Promise<string[]> {
    const out: unknown[] = [null];
    await this.hcn(`HcnEnumerate${kind}s`, json(query), out);
    return parse<string[]>(this.n.takeHcnString(out[0])) ?? [];
  }

  private async hcnCreate(name: string, args: unknown[]): Promise<void> {
    const handle: unknown[] = [null];
    await this.hcn(name, ...args, handle);
    this.n.fn(name.replace('Create', 'Close'))(handle[0]);
  }

  enumerateNetworks(query?: { Filter?: string }): Promise<string[]> {
    return this.hcnEnumerate('Network', query);
  }
  createNetwork(id: string, settings: HcnNetwork): Promise<void> {
    return this.hcnCreate('HcnCreateNetwork', [this.n.guid(id), json(settings)]);
  }
  queryNetworkProperties(id: string): Promise<WithId<HcnNetwork>> {
    return this.hcnQuery('Network', id);
  }
  deleteNetwork(id: string): Promise<void> {
    return this.hcn('HcnDeleteNetwork', this.n.guid(id));
  }
  enumerateEndpoints(query?: { Filter?: string }): Promise<string[]> {
    return this.hcnEnumerate('Endpoint', query);
  }
  createEndpoint(networkId: string, id: string, settings: HcnEndpoint): Promise<void> {
    return this.hcnWith('Network', networkId, (net) => this.hcnCreate('HcnCreateEndpoint', [net, this.n.guid(id), json(settings)]));
  }
  queryEndpointProperties(id: string): Promise<WithId<HcnEndpoint>> {
    return this.hcnQuery('Endpoint', id);
  }
  deleteEndpoint(id: string): Promise<void> {
    return this.hcn('HcnDeleteEndpoint', this.n.guid(id));
  }
  createNamespace(id: string, settings: HcnNamespace): Promise<void> {
    return this.hcnCreate('HcnCreateNamespace', [this.n.guid(id), json(settings)]);
  }
  modifyNamespace(id: string, request: HcnNamespaceModify): Promise<void> {
    return this.hcnWith('Namespace', id, (ns) => this.hcn('HcnModifyNamespace', ns, json(request)));
  }
  queryNamespaceProperties(id: string): Promise<WithId<HcnNamespace> & { Resources?: { Type: string; Data: { Id: string } }[] }> {
    return this.hcnQuery('Namespace', id);
  }
  deleteNamespace(id: string): Promise<void> {
    return this.hcn('HcnDeleteNamespace', this.n.guid(id));
  }

  async close(): Promise<void> {
    this.n.close();
  }
}
