/**
 * The native layer under KoffiHcs: the DLL functions declared from prototypes.ts, HCS
 * operations completed through a koffi.register'ed callback (never a blocking wait on a
 * thread-pool thread: libuv has 4 and fs needs them), HCN calls run with `.async`, and the
 * conversions (UTF-16 JSON results freed with LocalFree/CoTaskMemFree, GUID structs,
 * pipe HANDLEs into Node streams). Windows only: nothing here runs on Linux.
 */
import { Socket } from 'node:net';
import type { LibraryHandle } from 'koffi';
import { HRESULT, HcsError } from '../hresult.js';
import { declareTypes, functionName, LIBRARIES, type KoffiModule } from './prototypes.js';

type Fn = ReturnType<LibraryHandle['func']>;
/** koffi.register's handle of a callback. */
export type RegisteredCallback = bigint;

export interface Native {
  koffi: KoffiModule;
  fn(name: string): Fn;
  /** Frees what HCS allocated (LocalFree) and returns it as text. */
  takeHcsString(ptr: unknown): string | undefined;
  /** Frees what HCN allocated (CoTaskMemFree). */
  takeHcnString(ptr: unknown): string | undefined;
  /** HcsCreateOperation with a completion callback; `run(op)` starts the call; resolves with the result document. */
  operation(call: string, run: (op: unknown) => number): Promise<string | undefined>;
  /** Same for HcsCreateProcess: also the process information (pipe handles). */
  processOperation(call: string, run: (op: unknown) => number): Promise<{ result: string | undefined; info: ProcessInformation }>;
  /** A synchronous call run on a worker (HCN and storage calls can take seconds). */
  async(name: string, ...args: unknown[]): Promise<number>;
  guid(id: string): Record<string, unknown>;
  guidString(g: { Data1: number; Data2: number; Data3: number; Data4: number[] }): string;
  /** A pipe HANDLE HCS handed over, as a Node stream (via the CRT fd libuv uses on Windows). */
  pipe(handle: unknown, mode: 'read' | 'write'): Socket | null;
  register(proto: string, f: (...args: never[]) => void): RegisteredCallback;
  unregister(cb: RegisteredCallback): void;
  close(): void;
}

export interface ProcessInformation {
  ProcessId: number;
  StdInput: unknown;
  StdOutput: unknown;
  StdError: unknown;
}

export function check(hr: number, call: string, result?: string): void {
  if (hr < 0) {
    let doc: unknown;
    try {
      doc = result ? JSON.parse(result) : undefined;
    } catch {
      doc = result;
    }
    const detail = typeof doc === 'object' && doc && 'ErrorMessage' in doc ? String((doc as { ErrorMessage: unknown }).ErrorMessage) : result;
    throw new HcsError(hr, call, detail, doc);
  }
}

/** Loads the DLLs and declares every function (koffi.load fails off Windows). */
export function openNative(koffi: KoffiModule): Native {
  declareTypes(koffi);
  const libs: LibraryHandle[] = [];
  const fns = new Map<string, Fn>();
  for (const [dll, protos] of Object.entries(LIBRARIES)) {
    const lib = koffi.load(dll);
    libs.push(lib);
    for (const p of protos) {
      try {
        fns.set(functionName(p), lib.func(p));
      } catch {
        // an export this Windows build lacks (e.g. HcsWaitForProcessExit before Server 2022): calling it says so
      }
    }
  }
  const crt = koffi.load('ucrtbase.dll');
  const openOsfHandle = crt.func('int _open_osfhandle(intptr_t osfhandle, int flags)');
  libs.push(crt);
  const fn = (name: string): Fn => {
    const f = fns.get(name);
    if (!f) throw new HcsError(HRESULT.E_NOTIMPL, name, 'this Windows build does not export it');
    return f;
  };
  const take = (free: string) => (ptr: unknown): string | undefined => {
    if (!ptr) return undefined;
    const s = koffi.decode(ptr, 'char16_t', -1) as string;
    fn(free)(ptr);
    return s;
  };
  const takeHcsString = take('LocalFree');

  // operations complete on an HCS thread; koffi queues a registered callback to the JS thread
  const pending = new Map<bigint, () => void>();
  const completion = koffi.register((op: unknown) => {
    const id = BigInt(fn('HcsGetOperationId')(op) as number | bigint);
    const done = pending.get(id);
    pending.delete(id);
    done?.();
  }, koffi.pointer('HCS_OPERATION_COMPLETION'));

  async function complete<T>(call: string, run: (op: unknown) => number, collect: (op: unknown) => T): Promise<T> {
    const op = fn('HcsCreateOperation')(null, completion);
    if (!op) throw new HcsError(HRESULT.E_INVALIDARG, call, 'HcsCreateOperation failed');
    try {
      const id = BigInt(fn('HcsGetOperationId')(op) as number | bigint);
      const done = new Promise<void>((resolve) => pending.set(id, resolve));
      const hr = run(op);
      if (hr < 0 && hr !== (HRESULT.HCS_E_OPERATION_PENDING | 0)) {
        pending.delete(id);
        check(hr, call);
      }
      await done;
      return collect(op);
    } finally {
      fn('HcsCloseOperation')(op);
    }
  }

  return {
    koffi,
    fn,
    takeHcsString,
    takeHcnString: take('CoTaskMemFree'),
    operation: (call, run) =>
      complete(call, run, (op) => {
        const out: unknown[] = [null];
        const hr = fn('HcsGetOperationResult')(op, out) as number;
        const result = takeHcsString(out[0]);
        check(hr, call, result);
        return result;
      }),
    processOperation: (call, run) =>
      complete(call, run, (op) => {
        const out: unknown[] = [null];
        const info = {} as ProcessInformation;
        const hr = fn('HcsGetOperationResultAndProcessInfo')(op, info, out) as number;
        const result = takeHcsString(out[0]);
        check(hr, call, result);
        return { result, info };
      }),
    async: (name, ...args) =>
      new Promise<number>((resolve, reject) => {
        fn(name).async(...args, (err: unknown, hr: number) => (err ? reject(err as Error) : resolve(hr)));
      }),
    guid(id) {
      const h = id.replace(/[{}-]/g, '');
      if (!/^[0-9a-fA-F]{32}$/.test(h)) throw new HcsError(HRESULT.E_INVALIDARG, 'GUID', `${id} is not a GUID`);
      const bytes = Buffer.from(h.slice(16), 'hex');
      return { Data1: parseInt(h.slice(0, 8), 16), Data2: parseInt(h.slice(8, 12), 16), Data3: parseInt(h.slice(12, 16), 16), Data4: [...bytes] };
    },
    guidString: (g) => guidToString(g),
    pipe(handle, mode) {
      if (!handle) return null;
      const fd = openOsfHandle(koffi.address(handle), mode === 'read' ? 0x8000 /* _O_BINARY */ : 0x8001) as number;
      if (fd < 0) throw new HcsError(HRESULT.ERROR_INVALID_HANDLE, '_open_osfhandle');
      return new Socket({ fd, readable: mode === 'read', writable: mode === 'write' });
    },
    register: (proto, f) => koffi.register(f, koffi.pointer(proto)),
    unregister: (cb) => koffi.unregister(cb),
    close() {
      koffi.unregister(completion);
      for (const l of libs) l.unload();
    },
  };
}

export function guidToString(g: { Data1: number; Data2: number; Data3: number; Data4: number[] | Uint8Array }): string {
  const hex = (n: number, w: number) => (n >>> 0).toString(16).padStart(w, '0');
  const d4 = Buffer.from(g.Data4 as number[]).toString('hex');
  return `${hex(g.Data1, 8)}-${hex(g.Data2, 4)}-${hex(g.Data3, 4)}-${d4.slice(0, 4)}-${d4.slice(4)}`;
}
