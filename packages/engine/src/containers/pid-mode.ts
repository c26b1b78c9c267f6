// Docker's `--pid container:<name|id>`: the container joins another one's PID namespace
// (the CRI's shared pod PID namespace is built on it).
import { BerthError, InvalidArgumentError } from '@berth/image-format';
import type { HostConfig } from '../docker-types.js';
import { isRunning } from './context.js';
import { runtimeIdOf, type ContainerTable } from './record.js';

const PREFIX = 'container:';

/**
 * At create, as dockerd 20.10: the target is looked up now (a 400 `No such container: <ref>`
 * when missing) and recorded by its full id, so a rename or a new container taking the name
 * later changes nothing.
 */
export function resolvePidMode(host: HostConfig, table: ContainerTable): string | undefined {
  const mode = host.PidMode;
  if (!mode?.startsWith(PREFIX)) return mode;
  const ref = mode.slice(PREFIX.length);
  let id: string;
  try {
    id = table.resolve(ref).id;
  } catch {
    throw new InvalidArgumentError(`No such container: ${ref}`);
  }
  return PREFIX + id;
}

/**
 * At start: the run id of the container whose PID namespace this one joins, which must be
 * running. dockerd answers a stopped or removed target with a 500 naming its id.
 */
export function pidNamespaceOf(host: HostConfig, table: ContainerTable): string | undefined {
  const mode = host.PidMode;
  if (!mode?.startsWith(PREFIX)) return undefined;
  const id = mode.slice(PREFIX.length);
  const target = table.get(id);
  if (!target) throw new BerthError('Internal', `No such container: ${id}`);
  if (!isRunning(target)) throw new BerthError('Internal', `container ${id} is not running`);
  return runtimeIdOf(target);
}
