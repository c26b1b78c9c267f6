import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { layerVhdFromTar, type HcsApi, type HvsockTransport } from '@berth/hcs';
import { HcnNetworkDriver, WindowsLayerSnapshotter, WindowsProcessDriver, folderJoin } from '@berth/driver-windows-process';
import { WindowsHypervDriver, LCOW_LAYER_VHD } from './driver.js';

/** What a composition root knows when it makes the Windows drivers (the engine's DriverContext fits). */
export interface WindowsDriverContext {
  /** State root (berthd's data-root): container scratches go under `windowsfilter\`. */
  root: string;
  /** Runtime root: logs and driver state. */
  runRoot: string;
}

export interface WindowsDriverSetOptions {
  /** The HCS: `openKoffiHcs()` from @berth/hcs/koffi on a Windows host, HcsSimulator in tests. */
  hcs: HcsApi;
  /** LinuxBootFiles for LCOW (default: next to berthd, then `%ProgramFiles%\Linux Containers`). */
  linuxBootFiles?: string;
  /** Logical processors (`--cpus` is a share of them); default this machine's. */
  hostProcessors?: number;
  /** Where LCOW guests connect (default the real AF_HYPERV sockets; HcsSimulator.hvsock in tests). */
  hvsock?: HvsockTransport;
}

/** Where hcsshim looks for LinuxBootFiles: next to the program, then `%ProgramFiles%\Linux Containers`. */
export function defaultLinuxBootFiles(): string {
  const beside = join(dirname(process.execPath), 'LinuxBootFiles');
  return existsSync(beside) ? beside : `${process.env['ProgramFiles'] ?? 'C:\\Program Files'}\\Linux Containers`;
}

/**
 * The Windows drivers as berthd's composition root wires them on a Windows host, beside
 * driver-linux's linuxDriverSet: process isolation and Hyper-V (WCOW and LCOW) over one
 * HcsApi, sharing one HCN NAT network driver (Docker's `nat`), with image layers kept as
 * HCS layer folders (`<root>\windowsfilter\layers`). A Linux image's layers (LCOW) are kept
 * in the same store, each folder holding the layer as an ext4 `layer.vhd` the utility VM mounts.
 */
export async function windowsDriverSet(context: WindowsDriverContext, options: WindowsDriverSetOptions): Promise<{
  runtimes: { 'windows/process': WindowsProcessDriver; 'windows/hyperv': WindowsHypervDriver };
  network: HcnNetworkDriver;
  snapshotter: WindowsLayerSnapshotter;
}> {
  const { hcs } = options;
  await mkdir(context.runRoot, { recursive: true });
  const network = new HcnNetworkDriver(hcs, { stateFile: join(context.runRoot, 'windows-network.json') });
  const scratchRoot = join(context.root, 'windowsfilter', 'scratch');
  const process = new WindowsProcessDriver({
    hcs,
    network,
    stateDir: join(context.runRoot, 'windows-process'),
    scratchRoot,
    hostProcessors: options.hostProcessors ?? availableParallelism(),
  });
  const hyperv = new WindowsHypervDriver({
    hcs,
    network,
    stateDir: join(context.runRoot, 'windows-hyperv'),
    scratchRoot,
    linuxBootFiles: options.linuxBootFiles ?? defaultLinuxBootFiles(),
    ...(options.hvsock ? { hvsock: options.hvsock } : {}),
  });
  const snapshotter = await WindowsLayerSnapshotter.open(join(context.root, 'windowsfilter', 'layers'), hcs, {
    // a Linux layer's disk is written from its tar: nothing passes through the host's NTFS
    linuxLayerTar: (tar, folder, o) => layerVhdFromTar(tar, folderJoin(folder, LCOW_LAYER_VHD), o),
  });
  return { runtimes: { 'windows/process': process, 'windows/hyperv': hyperv }, network, snapshotter };
}
