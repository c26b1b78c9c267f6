/*
 * What the simulated vmcompute service keeps across its clients (compute system records,
 * layers, HCN), and the handles a client holds on them.
 */
import type { HcsProcess, HcsSystem } from '../api.js';
import type { ComputeSystem, ProcessDetails } from '../types.js';
import type { GuestProcess } from './guest.js';
import type { SimGcs } from './gcs.js';
import { SimHcn } from './hcn.js';
import { SimStorage } from './storage.js';
import type { CreatePlan, SystemState } from './systems.js';

export interface SimSystemRecord extends CreatePlan {
  id: string;
  /** Properties.RuntimeId: the VmId hvsock addresses. */
  runtimeId: string;
  doc: ComputeSystem;
  state: SystemState;
  /** A Linux VM started without GuestConnection: its GCS, which connects to the host over hvsock. */
  gcs?: SimGcs;
  exitType?: string;
  processes: Map<number, GuestProcess>;
  initArgs?: string[];
  handles: Set<SimSystemHandle>;
  exitWaiters: (() => void)[];
  thaw: (() => void)[];
  startedAt?: number;
}

export class SimSystemHandle implements HcsSystem {
  closed = false;
  constructor(
    readonly id: string,
    readonly record: SimSystemRecord,
  ) {}
}

export class SimProcessHandle implements HcsProcess {
  closed = false;
  constructor(
    readonly system: SimSystemRecord,
    readonly proc: GuestProcess,
  ) {}
  get pid(): number {
    return this.proc.spec.pid;
  }
  get stdin() {
    return this.proc.stdin;
  }
  get stdout() {
    return this.proc.stdout;
  }
  get stderr() {
    return this.proc.stderr;
  }
}

/**
 * A running process as HCS's ProcessList has it: the image's file name (a Windows guest's
 * with `.exe`), CPU times (a simulated process spends about 1% of its life on the CPU),
 * and memory.
 */
export function processDetails(p: GuestProcess, os: 'windows' | 'linux'): ProcessDetails {
  const base = (p.spec.args[0] ?? '').split(/[\\/]/).pop() ?? '';
  const lifeMs = Date.now() - p.startedAt;
  return {
    ProcessId: p.spec.pid,
    ImageName: os === 'windows' && !/\.[a-z0-9]+$/i.test(base) ? `${base}.exe` : base,
    CreateTimestamp: new Date(p.startedAt).toISOString(),
    UserTime100ns: lifeMs * 70,
    KernelTime100ns: lifeMs * 30,
    MemoryCommitBytes: 4 << 20,
    MemoryWorkingSetPrivateBytes: 1_536 << 10,
  };
}

/** What the simulated vmcompute service keeps, whichever client asks: compute systems, layers, HCN. */
export class SimService {
  readonly storage = new SimStorage();
  readonly hcn = new SimHcn();
  readonly systems = new Map<string, SimSystemRecord>();
  readonly bootFiles = new Set<string>();
  nextPid = 1;
  constructor(onDisk: boolean, hostOsVersion: string) {
    this.storage.onDisk = onDisk;
    this.storage.hostOsVersion = hostOsVersion;
  }
}
