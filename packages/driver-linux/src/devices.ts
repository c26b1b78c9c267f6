import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { BerthError, InvalidArgumentError } from '@berth/image-format';
import type { DeviceSpec } from '@berth/runtime';
import type { OciDevice } from './oci/config.js';

/** An OCI device cgroup rule; no major/minor means any. */
export interface DeviceRule {
  allow: boolean;
  type: string;
  major?: number;
  minor?: number;
  access: string;
}

interface ResolvedDevices {
  devices: OciDevice[];
  rules: DeviceRule[];
}

/** Docker's device cgroup rule (`--device-cgroup-rule 'c 7:128 rwm'`, `*` for any number). */
export function parseDeviceCgroupRule(rule: string): DeviceRule {
  const m = /^([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})$/.exec(rule);
  // dockerd's message, and its status: a 500 from start (it checks no earlier)
  if (!m) throw new BerthError('Internal', `invalid device cgroup rule format: '${rule}'`);
  const [, type, major, minor, access] = m as unknown as [string, string, string, string, string];
  return {
    allow: true,
    type,
    ...(major === '*' ? {} : { major: Number(major) }),
    ...(minor === '*' ? {} : { minor: Number(minor) }),
    access,
  };
}

function majorOf(rdev: number): number {
  return Number((BigInt(rdev) >> 8n) & 0xfffn) | Number((BigInt(rdev) >> 32n) & ~0xfffn);
}

function minorOf(rdev: number): number {
  return Number(BigInt(rdev) & 0xffn) | Number((BigInt(rdev) >> 12n) & ~0xffn);
}

/** Looks up the host devices handed to a container (`--device /dev/x[:/dev/y[:rwm]]`). */
export async function resolveDevices(devices: DeviceSpec[]): Promise<ResolvedDevices> {
  const out: ResolvedDevices = { devices: [], rules: [] };
  for (const d of devices) {
    const st = await stat(d.pathOnHost).catch(() => undefined);
    if (!st || !(st.isCharacterDevice() || st.isBlockDevice())) {
      throw new InvalidArgumentError(`${d.pathOnHost} is not a device`);
    }
    const type = st.isCharacterDevice() ? 'c' : 'b';
    const access = d.permissions ?? 'rwm';
    if (!/^[rwm]{1,3}$/.test(access)) throw new InvalidArgumentError(`invalid device permissions ${access}`);
    const major = majorOf(st.rdev);
    const minor = minorOf(st.rdev);
    out.devices.push({ path: d.pathInContainer ?? d.pathOnHost, type, major, minor, fileMode: st.mode & 0o7777, uid: st.uid, gid: st.gid });
    out.rules.push({ allow: true, type, major, minor, access });
  }
  return out;
}

const SKIP = new Set(['console', 'tty', 'ptmx', 'pts', 'shm', 'mqueue', 'core', 'fd', 'stdin', 'stdout', 'stderr']);

/** Every top-level host device, for privileged containers. */
export async function hostDevices(): Promise<ResolvedDevices> {
  const specs: DeviceSpec[] = [];
  for (const name of await readdir('/dev').catch(() => [] as string[])) {
    if (SKIP.has(name) || /^tty\d*$/.test(name)) continue;
    const path = join('/dev', name);
    const st = await stat(path).catch(() => undefined);
    if (st && (st.isCharacterDevice() || st.isBlockDevice())) specs.push({ pathOnHost: path });
  }
  return resolveDevices(specs);
}
