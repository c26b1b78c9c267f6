import fc from 'fast-check';
import { hcsSchemaErrors } from '../src/schema.js';
import { describe, expect, it } from 'vitest';
import type { ContainerSpec } from '@berth/runtime';
import {
  containerLimits,
  execProcessParameters,
  joinCommandLine,
  processContainerDocument,
  processParameters,
  scsiAttachRequest,
  splitCommandLine,
  vsmbShareRequest,
} from '../src/index.js';
import { SAMPLE_LAYERS, SAMPLE_SCRATCH_VOLUME, sampleSpec } from '../src/samples/cases.js';
import { reference } from './support.js';

describe('command lines', () => {
  it('escapes as Go syscall.EscapeArg (the reference CommandLine)', () => {
    expect(joinCommandLine(['cmd', '/S', '/C', 'echo hello world'])).toBe('cmd /S /C "echo hello world"');
    expect(joinCommandLine(['a"b', 'c\\d', 'e f\\', ''])).toBe('a\\"b c\\d "e f\\\\" ""');
  });

  it('splits back what it joined, whatever the args', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: fc.constantFrom('a', ' ', '\t', '"', '\\', 'é', 'x') }), { minLength: 1 }), (args) => {
        expect(splitCommandLine(joinCommandLine(args))).toEqual(args);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('process parameters', () => {
  it('a tty: EmulateConsole, no separate stderr, ConsoleSize [height, width] (the -tty reference)', () => {
    const doc = processParameters({}, { args: ['powershell.exe', '-NoLogo'], user: 'ContainerAdministrator', cwd: 'C:\\', env: ['PATH=C:\\Windows\\system32;C:\\Windows'], tty: true, stdin: true, terminalSize: { height: 30, width: 120 } });
    expect(doc).toEqual(reference('hcs/wcow-process.processparameters-tty.json'));
    expect(hcsSchemaErrors('ProcessParameters', doc)).toEqual([]);
  });

  it('exec inherits image env and the container user; its own env wins (keys case-insensitive on Windows)', () => {
    const spec: ContainerSpec = { ...sampleSpec(), image: { env: ['Path=C:\\img', 'A=1'], user: 'ContainerUser' } };
    const doc = execProcessParameters(spec, { args: ['cmd'], env: ['PATH=C:\\own'] });
    expect(doc.Environment).toEqual({ A: '1', PATH: 'C:\\own' });
    expect(doc.User).toBe('ContainerUser');
  });
});

describe('container documents', () => {
  it('refuses what hcsshim refuses: a non-volume scratch, a read-only root, CPU maximum with shares', () => {
    const spec = sampleSpec();
    expect(() => processContainerDocument({ spec, layers: SAMPLE_LAYERS, scratchPath: 'C:\\scratch', hostProcessors: 4 })).toThrow(/volume GUID/);
    expect(() => processContainerDocument({ spec: { ...spec, security: { readonlyRootfs: true } }, layers: SAMPLE_LAYERS, scratchPath: SAMPLE_SCRATCH_VOLUME, hostProcessors: 4 })).toThrow(/read-only/);
    expect(() => containerLimits({ ...spec, resources: { cpus: 1e9, cpuShares: 512 } }, 4)).toThrow(/CPU shares/);
    expect(() => processContainerDocument({ spec: { ...spec, mounts: [{ type: 'tmpfs', destination: 'C:\\t' }] }, layers: SAMPLE_LAYERS, scratchPath: SAMPLE_SCRATCH_VOLUME, hostProcessors: 4 })).toThrow(/tmpfs/);
  });

  it('named pipes become MappedPipes; Processor is {} without limits; the document validates', () => {
    const doc = processContainerDocument({
      spec: { ...sampleSpec(), resources: {}, mounts: [{ type: 'bind', source: '\\\\.\\pipe\\docker_engine', destination: '\\\\.\\pipe\\docker_engine' }] },
      layers: SAMPLE_LAYERS,
      scratchPath: SAMPLE_SCRATCH_VOLUME,
      hostProcessors: 4,
    });
    expect(doc.Container?.MappedPipes).toEqual([{ ContainerPipeName: 'docker_engine', HostPath: '\\\\.\\pipe\\docker_engine' }]);
    expect(doc.Container?.Processor).toEqual({});
    expect(hcsSchemaErrors('ComputeSystem', doc)).toEqual([]);
  });

  it('UVM modify requests match the references and their settings validate as the ResourcePath implies', () => {
    const scsi = scsiAttachRequest(1, 'C:\\ProgramData\\containerd\\root\\io.containerd.snapshotter.v1.windows\\snapshots\\13\\sandbox.vhdx');
    expect(scsi).toEqual(reference('hcs/modify.uvm-scsi-add.json'));
    expect(hcsSchemaErrors('Attachment', scsi.Settings)).toEqual([]);
    const vsmb = vsmbShareRequest({ name: 's1', path: 'C:\\ProgramData\\containerd\\root\\io.containerd.snapshotter.v1.windows\\snapshots\\12' });
    expect(vsmb).toEqual(reference('hcs/modify.uvm-vsmb-add.json'));
    expect(hcsSchemaErrors('ModifySettingRequest', vsmb)).toEqual([]);
    expect(hcsSchemaErrors('VirtualSmbShare', vsmb.Settings)).toEqual([]);
  });
});
