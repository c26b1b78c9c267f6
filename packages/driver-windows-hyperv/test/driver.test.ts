/*
 * What the Hyper-V driver hands HCS: the WCOW utility VM from the base layer's UtilityVM,
 * the layers as VSMB shares and the scratch on SCSI, the hosted container; the LCOW VM
 * from LinuxBootFiles with the OCI spec the runtime-spec schema accepts; a pause that is
 * the VM's; HCS's refusals surfacing at create with the VM and scratch gone.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { vsmbGuestPath, type ComputeSystem, type LinuxHostedSystem, type ModifySettingRequest } from '@berth/hcs';
import { HcsSimulator, nameToGuid } from '@berth/hcs/simulator';
import type { ContainerSpec } from '@berth/runtime';
import { WindowsHypervDriver } from '../src/index.js';

const BASE = 'C:\\berth\\layers\\base';
const LINUX = 'C:\\berth\\layers\\alpine';
const BOOT = 'C:\\berth\\LinuxBootFiles';
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function setup(baseVersion = '10.0.20348.2340') {
  const sim = new HcsSimulator();
  sim.addBaseLayer(BASE, { osVersion: baseVersion });
  sim.addBaseLayer(LINUX, { osVersion: '', os: 'linux' });
  sim.addLinuxBootFiles(BOOT);
  const copies: [string, string][] = [];
  const stateDir = mkdtempSync(join(tmpdir(), 'berth-winhv-'));
  dirs.push(stateDir);
  const driver = new WindowsHypervDriver({ hcs: sim, stateDir, scratchRoot: 'C:\\berth\\scratch', linuxBootFiles: BOOT, copyFile: async (a, b) => void copies.push([a, b]), hvsock: sim.hvsock });
  return { sim, driver, copies };
}

const spec = (id: string, extra: Partial<ContainerSpec> = {}): ContainerSpec => ({ id, rootfs: { layers: [BASE] }, process: { args: ['sleep', '30'] }, network: { mode: 'none' }, ...extra });

describe('windows/hyperv', () => {
  it('WCOW: the utility VM boots from UtilityVM\\Files, the layers are VSMB shares, the scratch SCSI 0:1', async () => {
    const { sim, driver, copies } = setup();
    await driver.create(spec('w1', { mounts: [{ type: 'bind', source: 'C:\\data', destination: 'C:\\data', readonly: true }] }));
    expect(copies).toEqual([[`${BASE}\\UtilityVM\\SystemTemplate.vhdx`, 'C:\\berth\\scratch\\w1\\uvm-sandbox.vhdx']]);
    const creates = sim.received.filter((r) => r.call === 'HcsCreateComputeSystem').map((r) => r.document as ComputeSystem);
    const [vm, hosted] = creates;
    expect(vm!.VirtualMachine!.Devices.VirtualSmb!.Shares![0]).toMatchObject({ Name: 'os', Path: `${BASE}\\UtilityVM\\Files` });
    expect(vm!.VirtualMachine!.GuestConnection).toEqual({});
    const mods = sim.received.filter((r) => r.call === 'HcsModifyComputeSystem').map((r) => r.document as ModifySettingRequest);
    expect(mods.map((m) => m.ResourcePath)).toEqual(['VirtualMachine/Devices/VirtualSmb/Shares', 'VirtualMachine/Devices/VirtualSmb/Shares', expect.stringMatching(/Scsi\/.*\/Attachments\/1$/)]);
    expect(hosted!.HostingSystemId).toBe('w1@uvm');
    const c = (hosted!.HostedSystem as { Container: NonNullable<ComputeSystem['Container']> }).Container;
    expect(c.Storage).toEqual({ Layers: [{ Id: nameToGuid('base'), Path: vsmbGuestPath('s1') }], Path: 'c:\\mounts\\scsi\\m1' });
    expect(c.MappedDirectories).toEqual([{ HostPath: vsmbGuestPath('m1'), ContainerPath: 'C:\\data', ReadOnly: true }]);

    await driver.start('w1');
    await driver.pause('w1');
    expect(sim.stateOf('w1@uvm')).toBe('Paused');
    await driver.unpause('w1');
    await driver.delete('w1', { force: true });
    expect(sim.stateOf('w1@uvm')).toBeUndefined();
    expect(sim.storage.writable.size).toBe(0);
  });

  it('LCOW: LinuxKernelDirect from LinuxBootFiles without GuestConnection; disks mounted, layers combined and the OCI spec created over the bridge', async () => {
    const { sim, driver } = setup();
    await driver.create(spec('l1', { rootfs: { layers: [LINUX] }, platform: { os: 'linux', architecture: 'amd64' }, process: { args: ['sh', '-c', 'echo hi'], user: 'nobody' } }));
    const creates = sim.received.filter((r) => r.call === 'HcsCreateComputeSystem').map((r) => r.document as ComputeSystem);
    // the container is not an HCS compute system: HCS only sees the VM, which holds no guest connection
    expect(creates).toHaveLength(1);
    const vm = creates[0]!;
    expect(vm.VirtualMachine!.Chipset.LinuxKernelDirect).toMatchObject({ KernelFilePath: `${BOOT}\\kernel`, InitRdPath: `${BOOT}\\initrd.img` });
    expect(vm.VirtualMachine!.GuestConnection).toBeUndefined();
    const mods = sim.received.filter((r) => r.call === 'HcsModifyComputeSystem').map((r) => r.document as ModifySettingRequest);
    expect(mods.map((m) => m.Settings)).toEqual([
      { Type: 'VirtualDisk', Path: 'C:\\berth\\scratch\\l1\\sandbox.vhd' },
      { Type: 'VirtualDisk', Path: `${LINUX}\\layer.vhd`, ReadOnly: true },
    ]);
    const gcs = sim.guestOf('l1@uvm')!;
    expect(gcs.received.map((r) => r.rpc)).toEqual(['NegotiateProtocol', 'ModifySettings', 'ModifySettings', 'ModifySettings', 'Create']);
    expect(gcs.received[0]!.body).toMatchObject({ MinimumVersion: 4, MaximumVersion: 4 });
    expect(gcs.received.slice(1, 4).map((r) => r.body.Request)).toEqual([
      { ResourceType: 'MappedVirtualDisk', RequestType: 'Add', Settings: { MountPath: '/run/mounts/scsi/m1', Controller: 0, Lun: 1 } },
      { ResourceType: 'MappedVirtualDisk', RequestType: 'Add', Settings: { MountPath: '/run/mounts/scsi/m2', Controller: 0, Lun: 2, ReadOnly: true } },
      { ResourceType: 'CombinedLayers', RequestType: 'Add', Settings: { ContainerId: 'l1', ContainerRootPath: '/run/gcs/c/l1/rootfs', Layers: [{ Id: nameToGuid('alpine'), Path: '/run/mounts/scsi/m2' }], ScratchPath: '/run/mounts/scsi/m1/scratch/l1' } },
    ]);
    const hosted = JSON.parse(gcs.received[4]!.body.ContainerConfig as string) as LinuxHostedSystem;
    expect(hosted.OciSpecification.process).toMatchObject({ args: ['sh', '-c', 'echo hi'], user: { uid: 0, gid: 0, username: 'nobody' } });
    expect(hosted.ScratchDirPath).toBe('/run/mounts/scsi/m1/scratch/l1');
    await driver.start('l1');
    expect(sim.received.some((r) => r.call === 'HcsCreateProcess')).toBe(false);
    const exec = gcs.received.find((r) => r.rpc === 'ExecuteProcess')!.body.Settings as { ProcessParameters: string; VsockStdioRelaySettings: Record<string, number> };
    // the init: no OciProcess (the GCS runs the spec's), stdout and stderr each on its own vsock port
    expect(JSON.parse(exec.ProcessParameters)).toEqual({ CreateStdOutPipe: true, CreateStdErrPipe: true });
    expect(exec.VsockStdioRelaySettings).toEqual({ StdOut: 0x40000001, StdErr: 0x40000002 });
    expect((await driver.wait('l1')).exitCode).toBe(0);
    const out: Buffer[] = [];
    for await (const e of driver.logs('l1')) out.push(e.data);
    expect(Buffer.concat(out).toString()).toBe('hi\n');
    await driver.delete('l1');
    expect(sim.stateOf('l1@uvm')).toBeUndefined();
    expect(sim.storage.writable.size).toBe(0);
  });

  it('a Linux image without LinuxBootFiles, or a Windows image newer than the host, fails at create with nothing left', async () => {
    const { sim } = setup('10.0.26100.1');
    const stateDir = mkdtempSync(join(tmpdir(), 'berth-winhv-'));
    dirs.push(stateDir);
    const noBoot = new WindowsHypervDriver({ hcs: sim, stateDir, scratchRoot: 'C:\\berth\\scratch', copyFile: async () => undefined });
    await expect(noBoot.create(spec('l2', { rootfs: { layers: [LINUX] }, platform: { os: 'linux', architecture: 'amd64' } }))).rejects.toMatchObject({ code: 'Unsupported' });
    await expect(noBoot.create(spec('w2'))).rejects.toMatchObject({ code: 'HCS_E_IMAGE_MISMATCH' });
    expect(sim.stateOf('w2@uvm')).toBeUndefined();
    expect(sim.storage.writable.size).toBe(0);
  });

  it("refuses a running container's root as dockerd does (its scratch is a disk in the VM); Windows top for both guests", async () => {
    const { driver } = setup();
    expect(driver.platforms).toEqual([
      { os: 'windows', isolation: 'hyperv' },
      { os: 'linux', isolation: 'hyperv' },
    ]);
    await driver.create(spec('r1'));
    await expect(driver.openRoot('r1')).rejects.toMatchObject({ code: 'Conflict' });
    await driver.start('r1');
    await expect(driver.openRoot('r1')).rejects.toMatchObject({ code: 'Unsupported', message: 'filesystem operations against a running Hyper-V container are not supported' });
    expect((await driver.processes('r1')).processes.map((r) => r[0])).toEqual(['sleep.exe']);
    await driver.delete('r1', { force: true });
    await driver.create(spec('r2', { rootfs: { layers: [LINUX] }, platform: { os: 'linux', architecture: 'amd64' } }));
    await driver.start('r2');
    expect(await driver.processes('r2')).toMatchObject({ titles: ['Name', 'PID', 'CPU', 'Private Working Set'], processes: [['sleep', expect.any(String), expect.any(String), '1.573MB']] });
    await driver.delete('r2', { force: true });
  });
});
