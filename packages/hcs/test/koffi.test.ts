/*
 * What Linux can prove of the koffi binding: every prototype parses (with the types it
 * declares), every DLL function the binding calls is among them, the structs have their
 * Windows x64 sizes, importing the module loads nothing native, and off Windows it refuses
 * with a clear error. Calling the DLLs is proved only by a Windows host (test:hcs in the drivers).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import koffi from 'koffi';
import { describe, expect, it } from 'vitest';
import { LIBRARIES, declareTypes, functionName, guidToString, openKoffiHcs, type KoffiModule } from '../src/koffi/index.js';
import { exitEventCallback, HcsEventProcessExited, HcsEventSystemExited } from '../src/koffi/hcs.js';

const k = koffi as unknown as KoffiModule;
declareTypes(k);

const declared = new Map(Object.entries(LIBRARIES).flatMap(([dll, protos]) => protos.map((p) => [functionName(p), { dll, p }] as const)));

/** Names the binding passes to fn()/async()/operation()/hcn(): literal strings and the HCN name templates. */
function calledFunctions(): string[] {
  const src = ['hcs.ts', 'native.ts', 'backup.ts'].map((f) => readFileSync(fileURLToPath(new URL(`../src/koffi/${f}`, import.meta.url)), 'utf8')).join('\n');
  const names = new Set<string>();
  for (const m of src.matchAll(/'((?:Hcs|Hcn)[A-Za-z]+|NameToGuid|ActivateLayer|DeactivateLayer|PrepareLayer|UnprepareLayer|GetLayerMountPath|LocalFree|CoTaskMemFree|CreateFileW|BackupRead|BackupWrite|CloseHandle|GetLastError)'/g)) names.add(m[1]!);
  for (const kind of ['Network', 'Endpoint', 'Namespace']) for (const verb of ['Open', 'Close', 'Query', 'Enumerate']) names.add(verb === 'Query' ? `Hcn${verb}${kind}Properties` : verb === 'Enumerate' ? `Hcn${verb}${kind}s` : `Hcn${verb}${kind}`);
  return [...names].filter((n) => n !== 'HcsSystem' && n !== 'HcsProcess');
}

describe('@berth/hcs/koffi on Linux', () => {
  it('every prototype of computecore, computestorage, computenetwork, vmcompute, kernel32 and ole32 parses', () => {
    let n = 0;
    for (const protos of Object.values(LIBRARIES)) {
      for (const p of protos) {
        const name = functionName(p);
        const t = k.proto(p.replace(`${name}(`, `berth_test_${name}(`));
        expect(t, p).toBeTruthy();
        n++;
      }
    }
    expect(n).toBe(declared.size);
    expect(n).toBeGreaterThan(100);
  });

  it('declares every function the binding calls', () => {
    const called = calledFunctions();
    expect(called.length).toBeGreaterThan(40);
    for (const name of called) expect(declared.has(name), name).toBe(true);
  });

  it('declares BackupRead, BackupWrite and CreateFileW as backup.ts calls them (BOOL as int, the context in and out)', () => {
    for (const name of ['CreateFileW', 'BackupRead', 'BackupWrite']) expect(declared.get(name)?.dll, name).toBe('kernel32.dll');
    expect(declared.get('BackupRead')!.p).toContain('_Inout_ void **context');
    expect(k.sizeof('int')).toBe(4);
  });

  it('lays out the structs as Windows x64 does', () => {
    expect(k.sizeof('HCS_PROCESS_INFORMATION')).toBe(32); // FACTS: {DWORD, DWORD, HANDLE x3}
    expect(k.sizeof('GUID')).toBe(16);
    expect(k.offsetof('HCS_PROCESS_INFORMATION', 'StdInput')).toBe(8);
    expect(k.sizeof('HCS_EVENT')).toBe(24);
  });

  it('an HCS_EVENT reaches the registered exit callback as a pointer it decodes', () => {
    let exits = 0;
    const cb = k.register(exitEventCallback(k, HcsEventProcessExited, () => exits++), k.pointer('HCS_EVENT_CALLBACK'));
    try {
      const ev = k.alloc('HCS_EVENT', 1);
      k.encode(ev, 'HCS_EVENT', { Type: HcsEventProcessExited, EventData: null, Operation: null });
      k.call(cb, 'HCS_EVENT_CALLBACK', ev, null);
      k.encode(ev, 'HCS_EVENT', { Type: HcsEventSystemExited, EventData: null, Operation: null });
      k.call(cb, 'HCS_EVENT_CALLBACK', ev, null);
      k.free(ev);
    } finally {
      k.unregister(cb);
    }
    expect(exits).toBe(1);
  });

  it('formats a GUID struct as HCS does', () => {
    expect(guidToString({ Data1: 0xdcc079ae, Data2: 0x60ba, Data3: 0x4d07, Data4: [0x84, 0x7c, 0x34, 0x93, 0x60, 0x9c, 0x08, 0x70] })).toBe('dcc079ae-60ba-4d07-847c-3493609c0870');
  });

  it('refuses off Windows with an error that names the simulator', async () => {
    await expect(openKoffiHcs()).rejects.toMatchObject({ code: 'Unsupported', message: expect.stringContaining('@berth/hcs/simulator') });
  });

  it('on the Windows path the DLL load is what fails here', async () => {
    await expect(openKoffiHcs({ platform: 'win32' })).rejects.toThrow(/computecore\.dll|shared library/);
  });

  it('importing the module loads no native code', () => {
    const script = `const seen = []; const dl = process.dlopen; process.dlopen = (m, f, ...r) => { seen.push(f); return dl.call(process, m, f, ...r); };
      await import('./src/koffi/index.ts'); console.log(JSON.stringify(seen));`;
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: fileURLToPath(new URL('..', import.meta.url)), encoding: 'utf8' });
    expect(JSON.parse(out.trim().split('\n').pop()!)).toEqual([]);
  });
});
