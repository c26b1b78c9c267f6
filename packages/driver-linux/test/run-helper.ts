import { randomBytes } from 'node:crypto';
import type { ContainerSpec, LogEntry, ProcessSpec } from '@berth/runtime';
import type { LinuxDriver } from '../src/index.js';

export function uid(tag: string): string {
  return `dl-${tag}-${randomBytes(4).toString('hex')}`;
}

export async function logText(driver: LinuxDriver, id: string, stream?: 'stdout' | 'stderr'): Promise<string> {
  const entries: LogEntry[] = [];
  for await (const e of driver.logs(id)) entries.push(e);
  return Buffer.concat(entries.filter((e) => !stream || e.stream === stream).map((e) => e.data)).toString();
}

/** create + start + wait + output, deleting the container afterwards. */
export async function runOnce(
  driver: LinuxDriver,
  rootfs: ContainerSpec['rootfs'],
  process: ProcessSpec,
  extra: Partial<ContainerSpec> = {},
): Promise<{ exitCode: number; oomKilled: boolean; stdout: string; stderr: string; all: string }> {
  const id = uid('run');
  await driver.create({ id, rootfs, process, network: { mode: 'none' }, ...extra });
  try {
    await driver.start(id);
    const status = await driver.wait(id);
    return {
      ...status,
      stdout: await logText(driver, id, 'stdout'),
      stderr: await logText(driver, id, 'stderr'),
      all: await logText(driver, id),
    };
  } finally {
    await driver.delete(id, { force: true });
  }
}
