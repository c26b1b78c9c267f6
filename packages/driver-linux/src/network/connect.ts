import { join } from 'node:path';
import { BerthError, ConflictError, InvalidArgumentError, NotFoundError } from '@berth/image-format';
import { addHostsEntry, removeHostsEntries, retargetResolvConf } from '../host-files.js';
import { checkFixedAddresses, endpointRecord, interfaceOf, type AttachmentRecord, type NetworkAttachmentRecord } from './endpoint-records.js';
import { CONTAINER_ID_RE, type EndpointContext } from './endpoints.js';
import { deleteRules } from './iptables.js';
import { isNetnsMounted } from './netns.js';
import { addWithRetry, cniDel, leavesIptablesRules, pluginChain } from './plugin-steps.js';
import type { AttachedInterface, ConnectOptions } from './types.js';

/**
 * Joins an attached (bridge mode) container to one more network while it runs: CNI ADD
 * of that network only, on the next free ethN. The first network of a container that
 * has none gets the default route. Its hosts file gains the address.
 */
export function connectContainer(ctx: EndpointContext, containerId: string, options: ConnectOptions): Promise<AttachedInterface> {
  if (!CONTAINER_ID_RE.test(containerId)) throw new InvalidArgumentError(`invalid container id ${JSON.stringify(containerId)}`);
  const defaultName = ctx.networks.defaultNetwork.name;
  return ctx.lock.run(async () => {
    const record = ctx.detaching.has(containerId) ? undefined : await ctx.attachments.get(containerId);
    if (!record || record.phase !== 'attached' || !record.netnsPath) throw new NotFoundError(`container ${containerId} has no network attachment`);
    if (record.mode !== 'bridge') throw new ConflictError(`container ${containerId} has network mode ${record.mode} and cannot join a network`);
    if (!(await isNetnsMounted(record.netnsPath))) throw new ConflictError(`the network namespace of container ${containerId} is gone`);
    const info = await ctx.networks.forEndpointLocked(options.name);
    if (!info) throw new NotFoundError(`network ${options.name} not found`);
    await ctx.networks.pinBridgeOnce(info);
    if (record.networks.some((n) => n.network === info.name)) throw new ConflictError(`container ${containerId} is already connected to network ${info.name}`);
    checkFixedAddresses(info, options, await ctx.attachments.values());
    const used = new Set(record.networks.map((n) => n.ifname));
    let k = 0;
    while (used.has(`eth${k}`)) k++;
    const n = endpointRecord(info, `eth${k}`, options, pluginChain(join(ctx.stateDir, 'ipam'), info, record.networks.length === 0, [], options));
    record.networks.push(n);
    // Recorded before the ADD: a crash in between leaves a record detach can undo.
    await ctx.attachments.put(containerId, record);
    try {
      for (const step of n.steps) n.result = await addWithRetry(ctx.cni, containerId, record.netnsPath, n, step);
      n.iface = interfaceOf(n.network, n.ifname, n.result);
    } catch (e) {
      await removeFromNetns(ctx, record, n).catch(() => undefined);
      record.networks = record.networks.filter((x) => x !== n);
      await ctx.attachments.put(containerId, record);
      throw e;
    }
    await ctx.attachments.put(containerId, record);
    if (record.hostFilesDir) {
      await addHostsEntry(join(record.hostFilesDir, 'hosts'), n.iface.ip, record.hostname ? [record.hostname] : []).catch(() => undefined);
      // The first user network of a container brings the embedded DNS into its resolv.conf.
      const users = record.networks.filter((x) => x.network !== defaultName);
      if (ctx.dns && n.network !== defaultName && users.length === 1) {
        await retargetResolvConf(join(record.hostFilesDir, 'resolv.conf'), [], n.iface.gateway).catch(() => undefined);
      }
    }
    if (ctx.dns) await ctx.dns.update(containerId, record);
    return n.iface;
  });
}

/**
 * Takes an attached container off one network while it runs: CNI DEL of that network
 * only (its interface leaves the namespace, its address lease is released). Without a
 * network left the container keeps a namespace with loopback only, as in Docker.
 */
export function disconnectContainer(ctx: EndpointContext, containerId: string, network: string): Promise<void> {
  if (!CONTAINER_ID_RE.test(containerId)) throw new InvalidArgumentError(`invalid container id ${JSON.stringify(containerId)}`);
  const defaultName = ctx.networks.defaultNetwork.name;
  return ctx.lock.run(async () => {
    const record = ctx.detaching.has(containerId) ? undefined : await ctx.attachments.get(containerId);
    const n = record?.networks.find((x) => x.network === network);
    if (!record || !n) throw new NotFoundError(`container ${containerId} is not connected to network ${network}`);
    await removeFromNetns(ctx, record, n);
    record.networks = record.networks.filter((x) => x !== n);
    if (n.steps.some((st) => st.config.type === 'portmap')) record.ports = [];
    await ctx.attachments.put(containerId, record);
    if (record.hostFilesDir && n.iface) {
      await removeHostsEntries(join(record.hostFilesDir, 'hosts'), n.iface.ip).catch(() => undefined);
      // Its gateway no longer serves this container: the next user network's does, else the host's nameservers.
      if (ctx.dns && n.network !== defaultName) {
        const next = record.networks.find((x) => x.network !== defaultName)?.iface?.gateway;
        await retargetResolvConf(join(record.hostFilesDir, 'resolv.conf'), [n.iface.gateway], next).catch(() => undefined);
      }
    }
    if (ctx.dns?.has(containerId)) await ctx.dns.update(containerId, record);
  });
}

/** CNI DEL of one network of a container whose namespace may still live (the veth goes with it). */
async function removeFromNetns(ctx: EndpointContext, record: AttachmentRecord, n: NetworkAttachmentRecord): Promise<void> {
  const live = record.netnsPath ? await isNetnsMounted(record.netnsPath) : false;
  const failures: string[] = [];
  for (const step of [...n.steps].reverse()) {
    if (step.config.type === 'portmap') {
      // As in detach: the container's rules in one transaction instead of portmap DEL.
      const others = (await ctx.attachments.values()).filter((a) => a.containerId !== record.containerId);
      const lastUser = !others.some((a) => a.networks.some((x) => x.steps.some(leavesIptablesRules)));
      await deleteRules('nat', (r) => r.spec.includes(`id: \\"${record.containerId}\\"`), { pruneHostport: lastUser }).catch((e: Error) => failures.push(e.message));
      continue;
    }
    const failed = await cniDel(ctx.cni, record.containerId, live ? (record.netnsPath as string) : '', n, step);
    if (failed) failures.push(failed);
  }
  if (failures.length > 0) throw new BerthError('Internal', `cannot disconnect ${record.containerId} from network ${n.network}: ${failures.join('; ')}`);
}
