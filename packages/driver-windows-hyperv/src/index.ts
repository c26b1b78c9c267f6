/**
 * @berth/driver-windows-hyperv — RuntimeDriver for Hyper-V isolated containers: Windows
 * images (WCOW) and Linux images (LCOW) each in their own utility VM, over an HcsApi.
 */
export { WindowsHypervDriver, type HypervDriverOptions } from './driver.js';
export { windowsDriverSet, defaultLinuxBootFiles, type WindowsDriverContext, type WindowsDriverSetOptions } from './driver-set.js';
