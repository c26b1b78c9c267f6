/**
 * What a Windows driver keeps of each container on disk, and how a restarted berthd takes
 * its containers back from HCS, the way driver-linux's come back from conmon: the compute
 * system found by Owner (HcsEnumerateComputeSystems) and opened by id, the init process
 * opened by its pid (HcsOpenProcess) with its stdio (HcsGetProcessInfo) and exit
 * notification registered again. A process that ended while nobody watched gives its own
 * exit code (the compute system outlives its init process until someone shuts it down); a
 * compute system that is gone (the host rebooted, vmcompute restarted) leaves Docker's 255.
 */
import { randomBytes } from 'node:crypto';
import { readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BERTH_OWNER, type HcsApi, type HcsProcess, type HcsSystem } from '@berth/hcs';
import type { ContainerSpec, ContainerState } from '@berth/runtime';
import type { SavedExec } from './execs.js';

/** One container as the driver saved it: enough to open its sandbox and compute system again. */
export interface SavedContainer {
  spec: ContainerSpec;
  /** The sandbox's own record (Sandbox.saved), handed to the driver's reopen(). */
  sandbox: unknown;
  state: ContainerState;
  /** The execs the engine named that were running at the last save (execs.ts). */
  execs?: SavedExec[];
}

export type Adopted =
  | { kind: 'stopped'; exitCode: number; finishedAt?: string }
  | { kind: 'created'; system?: HcsSystem }
  | { kind: 'running'; system: HcsSystem; process: HcsProcess; paused: boolean; ended: boolean };

/** Docker's exit code for a container whose end nobody saw. */
const LOST = 255;

const file = (dir: string, id: string): string => join(dir, `${id}.container.json`);

export async function saveContainer(dir: string, saved: SavedContainer): Promise<void> {
  const tmp = join(dir, `.${saved.spec.id}.${randomBytes(4).toString('hex')}.tmp`);
  await writeFile(tmp, JSON.stringify(saved));
  await rename(tmp, file(dir, saved.spec.id));
}

export async function forgetContainer(dir: string, id: string): Promise<void> {
  await rm(file(dir, id), { force: true });
}

export async function savedContainers(dir: string): Promise<SavedContainer[]> {
  const out: SavedContainer[] = [];
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (!name.endsWith('.container.json')) continue;
    const text = await readFile(join(dir, name), 'utf8').catch(() => undefined);
    try {
      if (text) out.push(JSON.parse(text) as SavedContainer);
    } catch {
      // a record cut short by a crash mid-write never replaced a whole one (rename): skip it
    }
  }
  return out;
}

/** The ids of the compute systems berthd owns, as HCS lists them (lower case). */
export async function ownedSystems(hcs: HcsApi): Promise<Set<string>> {
  const systems = await hcs.enumerateComputeSystems({ Owners: [BERTH_OWNER] });
  return new Set(systems.map((s) => (s.Id ?? '').toLowerCase()));
}

/** Opens what HCS still has of a saved container and says what state it is in now. */
export async function adopt(hcs: HcsApi, saved: SavedContainer, owned: Set<string>): Promise<Adopted> {
  const { state } = saved;
  if (state.status === 'stopped') return { kind: 'stopped', exitCode: state.exitCode ?? LOST, ...(state.finishedAt ? { finishedAt: state.finishedAt } : {}) };
  const present = owned.has(saved.spec.id.toLowerCase());
  if (state.status === 'created') return present ? { kind: 'created', system: await hcs.openComputeSystem(saved.spec.id) } : { kind: 'created' };
  if (!present || state.pid === undefined) return { kind: 'stopped', exitCode: LOST };
  const system = await hcs.openComputeSystem(saved.spec.id);
  const ended = async (exitCode: number): Promise<Adopted> => {
    await hcs.shutDownComputeSystem(system).catch(() => undefined);
    await hcs.closeComputeSystem(system).catch(() => undefined);
    return { kind: 'stopped', exitCode };
  };
  const process = await hcs.openProcess(system, state.pid).catch(() => undefined);
  if (!process) return ended(LOST);
  const status = await hcs.getProcessProperties(process).catch(() => undefined);
  if (!status) {
    await hcs.closeProcess(process).catch(() => undefined);
    return ended(LOST);
  }
  // one that ended while berthd was down is followed too: what it wrote meanwhile is still in its pipes
  const props = await hcs.getComputeSystemProperties(system, { PropertyTypes: [] }).catch(() => undefined);
  return { kind: 'running', system, process, paused: props?.State === 'Paused' || !!state.paused, ended: !!status.Exited };
}
