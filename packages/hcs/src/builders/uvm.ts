import { SCHEMA_V21, type Attachment, type ComputeSystem, type ModifySettingRequest, type VirtualSmbShare, type VirtualSmbShareOptions } from '../types.js';
import { BERTH_OWNER, TERMINATE_ON_LAST_HANDLE_CLOSED } from './container.js';

/** hcsshim's guestrequest.ScsiControllerGuids[0]. */
export const SCSI_CONTROLLER_0 = 'df6d0690-79e5-55b6-a5ec-c1e2f77f580a';
/** The VSMB device every WCOW guest sees shares under (`\\?\VMSMB\VSMB-{…}\<name>`). */
export const VSMB_DEVICE = '{dcc079ae-60ba-4d07-847c-3493609c0870}';
/** hcsshim's hvsock service for the WCOW guest's log forwarding. */
export const WCOW_LOG_SERVICE = '172dad59-976d-45f2-8b6c-6d1b13f2ac4d';
/** The hvsock service the host listens on for the GCS (WCOW, and LCOW's vsock port 0x40000000). */
export const GCS_SERVICE_WCOW = 'acef5661-84a1-4e44-856b-6245e69f4620';
export const GCS_SERVICE_LCOW = '40000000-facb-11e6-bd58-64006a7986d3';
const SYSTEM_ADMIN_SD = 'D:P(A;;FA;;;SY)(A;;FA;;;BA)';

export const VSMB_READONLY_OPTIONS: VirtualSmbShareOptions = Object.freeze({ ReadOnly: true, ShareRead: true, CacheIo: true, TakeBackupPrivilege: true, PseudoOplocks: true });

export function vsmbGuestPath(name: string): string {
  return `\\\\?\\VMSMB\\VSMB-${VSMB_DEVICE}\\${name}`;
}

/** `\\host\...` folder of a Windows path (string ops: these are Windows paths even on Linux). */
export function winJoin(...parts: string[]): string {
  return parts.map((p, i) => (i === 0 ? p.replace(/\\+$/, '') : p.replace(/^\\+|\\+$/g, ''))).join('\\');
}

export interface UvmSize {
  processors?: number;
  memoryMB?: number;
}

export interface WcowUvmInput extends UvmSize {
  /** The image's base layer folder (it holds `UtilityVM\Files` and `UtilityVM\SystemTemplate.vhdx`). */
  baseLayer: string;
  /** The UVM's scratch disk: a copy of `UtilityVM\SystemTemplate.vhdx`. */
  scratchVhdx: string;
  owner?: string;
}

/**
 * The WCOW utility VM (hcsshim create_wcow.go with NewDefaultOptionsWCOW): UEFI boots
 * bootmgfw.efi from the base layer's `UtilityVM\Files`, shared read-only over VSMB as `os`;
 * its scratch is SCSI 0:0.
 */
export function wcowUvmDocument(input: WcowUvmInput): ComputeSystem {
  const memoryMB = input.memoryMB ?? 1024;
  return {
    Owner: input.owner ?? BERTH_OWNER,
    SchemaVersion: { ...SCHEMA_V21 },
    VirtualMachine: {
      StopOnReset: true,
      Chipset: { Uefi: { BootThis: { DeviceType: 'VmbFs', DevicePath: '\\EFI\\Microsoft\\Boot\\bootmgfw.efi' } } },
      ComputeTopology: {
        Memory: { SizeInMB: memoryMB, AllowOvercommit: true, EnableHotHint: true },
        Processor: { Count: input.processors ?? 2 },
      },
      Devices: {
        Scsi: { [SCSI_CONTROLLER_0]: { Attachments: { '0': { Type: 'VirtualDisk', Path: input.scratchVhdx } } } },
        HvSocket: {
          HvSocketConfig: {
            DefaultBindSecurityDescriptor: SYSTEM_ADMIN_SD,
            ServiceTable: { [WCOW_LOG_SERVICE]: { BindSecurityDescriptor: SYSTEM_ADMIN_SD, ConnectSecurityDescriptor: SYSTEM_ADMIN_SD, AllowWildcardBinds: true } },
          },
        },
        VirtualSmb: {
          Shares: [{ Name: 'os', Path: winJoin(input.baseLayer, 'UtilityVM', 'Files'), Options: { ...VSMB_READONLY_OPTIONS } }],
          DirectFileMappingInMB: memoryMB,
        },
      },
      RegistryChanges: {
        AddValues: [{ Key: { Hive: 'System', Name: 'CurrentControlSet\\Services\\gns' }, Name: 'EnableCompartmentNamespace', Type: 'DWord', DWordValue: 1 }],
      },
    },
    ShouldTerminateOnLastHandleClosed: TERMINATE_ON_LAST_HANDLE_CLOSED,
  };
}

export interface LcowUvmInput extends UvmSize {
  /** `LinuxBootFiles` next to berthd, or `%ProgramFiles%\Linux Containers`. */
  bootFilesPath: string;
  /** `kernel` or `vmlinux`. */
  kernelFile?: string;
  /** `initrd.img`. */
  initrdFile?: string;
  /** The GCS's log level (`-loglevel`). */
  logLevel?: string;
  owner?: string;
}

/** The kernel command line hcsshim MakeLCOWDoc builds for KernelDirect boot with an initrd. */
export function lcowKernelCmdLine(processors: number, logLevel = 'info'): string {
  // hcsshim starts it with a space (the root= part is empty for an initrd)
  return ` initcall_blacklist=virtio_vsock_init 8250_core.nr_uarts=0 panic=-1 quiet pci=off nr_cpus=${processors} brd.rd_nr=0 pmtmr=0 -- -e 1 /bin/vsockexec -e 109 /bin/gcs -v4 -log-format json -loglevel ${logLevel}`;
}

/** The LCOW utility VM (hcsshim create_lcow.go, build >= 18286: LinuxKernelDirect from the boot files). */
export function lcowUvmDocument(input: LcowUvmInput): ComputeSystem {
  const processors = input.processors ?? 2;
  return {
    Owner: input.owner ?? BERTH_OWNER,
    SchemaVersion: { ...SCHEMA_V21 },
    VirtualMachine: {
      StopOnReset: true,
      Chipset: {
        LinuxKernelDirect: {
          KernelFilePath: winJoin(input.bootFilesPath, input.kernelFile ?? 'kernel'),
          InitRdPath: winJoin(input.bootFilesPath, input.initrdFile ?? 'initrd.img'),
          KernelCmdLine: lcowKernelCmdLine(processors, input.logLevel),
        },
      },
      ComputeTopology: { Memory: { SizeInMB: input.memoryMB ?? 1024, AllowOvercommit: true }, Processor: { Count: processors } },
      Devices: {
        Scsi: { [SCSI_CONTROLLER_0]: {} },
        VirtualPMem: { MaximumCount: 64, MaximumSizeBytes: 4 * 1024 * 1024 * 1024 },
        HvSocket: { HvSocketConfig: { DefaultBindSecurityDescriptor: SYSTEM_ADMIN_SD } },
        Plan9: {},
      },
    },
    ShouldTerminateOnLastHandleClosed: TERMINATE_ON_LAST_HANDLE_CLOSED,
  };
}

/** HcsModifyComputeSystem: add a read-only VSMB share to the UVM (a layer or a mapped directory). */
export function vsmbShareRequest(share: { name: string; path: string; readonly?: boolean }): ModifySettingRequest {
  const settings: VirtualSmbShare = {
    Name: share.name,
    Path: share.path,
    Options: share.readonly === false ? { ShareRead: true, CacheIo: true, TakeBackupPrivilege: true, PseudoOplocks: true } : { ...VSMB_READONLY_OPTIONS },
  };
  return { ResourcePath: 'VirtualMachine/Devices/VirtualSmb/Shares', RequestType: 'Add', Settings: settings };
}

/** HcsModifyComputeSystem: attach a VHD(X) to the UVM's SCSI controller 0 at `lun`. */
export function scsiAttachRequest(lun: number, path: string, readonly = false): ModifySettingRequest {
  const settings: Attachment = { Type: 'VirtualDisk', Path: path, ...(readonly ? { ReadOnly: true } : {}) };
  return { ResourcePath: `VirtualMachine/Devices/Scsi/${SCSI_CONTROLLER_0}/Attachments/${lun}`, RequestType: 'Add', Settings: settings };
}
