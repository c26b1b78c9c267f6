import { join } from 'node:path';
import { BerthError, ConflictError, InvalidArgumentError, NotFoundError } from '@berth/image-format';
import type { DetachOptions } from '@berth/runtime';
import type { CniExecutor } from './cni.js';
import type { DeferredCleanups } from './cleanup.js';
import type { ContainerDns } from './dns/container-dns.js';
import { checkFixedAddresses, endpointRecord, interfaceOf, type AttachmentRecord, type NetworkAttachmentRecord, type PluginStep } from './endpoint-records.js';
import { releaseHostLocalLeases } from './ipam-lease.js';
import { networkKey } from './ipam-config.js';
import { deleteRules, pruneSharedChains } from './iptables.js';
import type { Mutex } from './mutex.js';
import { createNetns, isNetnsMounted, removeNetns } from './netns.js';
import type { BridgeNetworks } from './networks.js';
import { addWithRetry, cniDel, leavesIptablesRules, pluginChain } from './plugin-steps.js';
import { allocateHostPorts } from './port-allocation.js';
import { normalizePorts } from './ports.js';
import type { JsonRecordDir } from './state-store.js';
import type { AttachedInterface, AttachOptions, AttachResult, NetworkInfo } from './types.js';

function addressesOf(record: AttachmentRecord | undefined): string[] {
  return (record?.networks ?? []).flatMap((n) => (n.result?.ips ?? []).map((ip) => ip.address.split('/')[0] ?? ''));
}

export const CONTAINER_ID_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;

/** What the endpoint work shares with the manager. */
export interface EndpointContext {
  stateDir: string;
  netnsDir: string;
  networks: BridgeNetworks;
  attachments: JsonRecordDir<AttachmentRecord>;
  cni: CniExecutor;
  /** Held while the records are read and changed (networks and attachments alike). */
  lock: Mutex;
  dns: ContainerDns | undefined;
  /** Containers whose detach runs: connect and disconnect leave them alone. */
  detaching: Set<string>;
  /** Namespaces still being removed after a deferred detach (cleanup.ts). */
  cleanups: DeferredCleanups;
}

/**
 * Gives a container its network: `host` returns no namespace; `none` a namespace with
 * loopback only; `bridge` joins the named networks (default network when none) and
 * publishes the ports. A port in use fails with ConflictError before anything changes.
 */
export async function attachContainer(ctx: EndpointContext, containerId: string, options: AttachOptions): Promise<AttachResult> {
  if (!CONTAINER_ID_RE.test(containerId)) throw new InvalidArgumentError(`invalid container id ${JSON.stringify(containerId)}`);
  if (options.mode === 'host') return { interfaces: [], ports: [] };
  if (options.mode !== 'none' && options.mode !== 'bridge') throw new InvalidArgumentError(`unknown network mode ${String(options.mode)}`);

  // a deferred cleanup of the same id still owns the namespace path; one that held a fixed
  // address asked for here may still answer for it on the bridge
  const fixed = (options.networks ?? []).flatMap((n) => [n.ipv4Address, n.ipv6Address]).filter((a): a is string => !!a);
  await ctx.cleanups.settledFor(containerId, fixed);
  const record = await ctx.lock.run(() => reserve(ctx, containerId, options));
  try {
    return await plumb(ctx, record, options.onNamespace);
  } catch (e) {
    await detachContainer(ctx, containerId).catch(() => undefined);
    throw e;
  }
}

/** Validates and records the attachment (ports reserved) under the lock; touches nothing on the host. */
async function reserve(ctx: EndpointContext, containerId: string, options: AttachOptions): Promise<AttachmentRecord> {
  if (await ctx.attachments.get(containerId)) throw new ConflictError(`container ${containerId} is already attached to a network`);
  const record: AttachmentRecord = {
    containerId,
    mode: options.mode,
    netnsPath: join(ctx.netnsDir, containerId),
    ports: [],
    phase: 'attaching',
    networks: [],
    ...(options.hostname ? { hostname: options.hostname } : {}),
    ...(options.hostFilesDir ? { hostFilesDir: options.hostFilesDir } : {}),
  };
  if (options.mode === 'bridge') {
    const wanted = options.networks && options.networks.length > 0 ? options.networks : [{ name: ctx.networks.defaultNetwork.name }];
    const seen = new Set<string>();
    const nets: { info: NetworkInfo; w: (typeof wanted)[number] }[] = [];
    const existing = await ctx.attachments.values();
    for (const w of wanted) {
      if (seen.has(w.name)) throw new InvalidArgumentError(`network ${w.name} named twice`);
      seen.add(w.name);
      const info = await ctx.networks.forEndpointLocked(w.name);
      if (!info) throw new NotFoundError(`network ${w.name} not found`);
      await ctx.networks.pinBridgeOnce(info);
      checkFixedAddresses(info, w, existing);
      nets.push({ info, w });
    }
    const publishOn = nets.findIndex((n) => !n.info.internal);
    const ports = publishOn >= 0 ? await allocateHostPorts(ctx.attachments, normalizePorts(options.ports ?? [])) : [];
    record.ports = ports;
    const ipamDataDir = join(ctx.stateDir, 'ipam');
    record.networks = nets.map((n, i) => endpointRecord(n.info, `eth${i}`, n.w, pluginChain(ipamDataDir, n.info, i === 0, i === publishOn ? ports : [], n.w)));
  }
  await ctx.attachments.put(containerId, record);
  return record;
}

async function plumb(ctx: EndpointContext, record: AttachmentRecord, onNamespace?: (netnsPath: string) => void): Promise<AttachResult> {
  const netnsPath = record.netnsPath as string;
  // Loopback comes up inside the unshare that creates the namespace: one process, no plugin.
  await createNetns(netnsPath, { loopbackUp: true });
  onNamespace?.(netnsPath);
  const interfaces: AttachedInterface[] = [];
  const lastStep = record.networks.at(-1)?.steps.at(-1);
  for (const n of record.networks) {
    for (const step of n.steps) {
      n.result = await addWithRetry(ctx.cni, record.containerId, netnsPath, n, step);
      // the last step's record is the attached one: one write less on every attach
      if (step === lastStep) {
        try {
          n.iface = interfaceOf(n.network, n.ifname, n.result);
          record.phase = 'attached';
        } catch {
          // a result without an address fails below, once the step is persisted for DEL
        }
      }
      // Persist each step: after a crash, DEL gets the freshest prevResult.
      await ctx.attachments.put(record.containerId, record);
    }
    const iface = n.iface ?? interfaceOf(n.network, n.ifname, n.result);
    n.iface = iface;
    interfaces.push(iface);
  }
  if (record.phase !== 'attached') {
    record.phase = 'attached';
    await ctx.attachments.put(record.containerId, record);
  }
  const result: AttachResult = { netnsPath, interfaces, ports: record.ports };
  // The default network has no name resolution (as Docker's default bridge): nothing to do on that path.
  if (ctx.dns && ctx.dns.onUserNetwork(record)) {
    const first = record.networks.find((n) => n.network !== ctx.networks.defaultNetwork.name);
    if (first?.iface?.gateway) result.nameservers = [first.iface.gateway];
    await ctx.dns.update(record.containerId, record);
  }
  return result;
}

/**
 * Undoes attach: CNI DEL in reverse order with the recorded prevResults, iptables
 * leftovers, the netns. Idempotent; an unknown container only loses a stray netns.
 */
export async function detachContainer(ctx: EndpointContext, containerId: string, options: DetachOptions = {}): Promise<void> {
  if (!CONTAINER_ID_RE.test(containerId)) throw new InvalidArgumentError(`invalid container id ${JSON.stringify(containerId)}`);
  // a second detach finds the first one's namespace gone
  await ctx.cleanups.settledFor(containerId, []);
  // Read under the lock, and marked: a connect/disconnect in flight finishes first, a later one is refused.
  const record = await ctx.lock.run(async () => {
    ctx.detaching.add(containerId);
    return ctx.attachments.get(containerId);
  });
  try {
    await detachRecord(ctx, containerId, record, options.deferCleanup === true);
  } finally {
    ctx.detaching.delete(containerId);
  }
}

async function detachRecord(ctx: EndpointContext, containerId: string, record: AttachmentRecord | undefined, defer: boolean): Promise<void> {
  const netnsPath = record?.netnsPath ?? join(ctx.netnsDir, containerId);
  // Deferred: the namespace (and the veths the kernel destroys with it) goes after the
  // answer; nothing another container could clash with waits for it.
  const namespaceGone = defer ? ctx.cleanups.add(containerId, addressesOf(record), () => removeNetns(netnsPath)) : undefined;
  try {
    await releaseRecord(ctx, containerId, record, netnsPath, namespaceGone !== undefined);
  } finally {
    namespaceGone?.();
  }
}

async function releaseRecord(ctx: EndpointContext, containerId: string, record: AttachmentRecord | undefined, netnsPath: string, namespaceDeferred: boolean): Promise<void> {
  const failures: string[] = [];
  if (record) {
    const live = await isNetnsMounted(netnsPath);
    const del = async (n: NetworkAttachmentRecord, step: PluginStep, netns: string) => {
      // firewall (records of earlier versions) reads the IPs from prevResult; without one its ADD never ran.
      if (step.config.type === 'firewall' && !n.result) return;
      const failed = await cniDel(ctx.cni, containerId, netns, n, step);
      if (failed) failures.push(failed);
    };
    const reversed = [...record.networks].reverse();
    // Two independent lanes, side by side: the iptables plugins (portmap; firewall in
    // old records) with the leftover cleanup, and the links. Within a lane, reverse
    // order as libcni does.
    const iptablesLane = async () => {
      // portmap DEL is not run: it only deletes the rules tagged with this container's
      // id and the CNI-DN-* chain they jump to (v1.1: unforwardPorts), one iptables call
      // at a time (~110 ms); deleteRules below does the same in one transaction.
      for (const n of reversed) for (const step of [...n.steps].reverse()) if (step.config.type === 'firewall') await del(n, step, live ? netnsPath : '');
      // What the plugins leave: bridge's masquerade chain when the netns was already
      // gone (old records with ipMasq), portmap's per-container chains, firewall's rules.
      // A plain bridge step (no published port) leaves nothing: no iptables pass at all.
      if (!record.networks.some((n) => n.steps.some(leavesIptablesRules))) return;
      const ips = record.networks.flatMap((n) => (n.result?.ips ?? []).map((ip) => ip.address.split('/')[0] ?? ''));
      try {
        // The shared chains stay while another container of ours still needs them.
        const others = (await ctx.attachments.values()).filter((a) => a.containerId !== containerId);
        const lastUser = !others.some((a) => a.networks.some((n) => n.steps.some(leavesIptablesRules)));
        // One transaction: this container's rules, and portmap's shared chains if they end up empty.
        await deleteRules('nat', (r) => r.spec.includes(`id: \\"${containerId}\\"`), { pruneHostport: lastUser });
        if (record.networks.some((n) => n.steps.some((st) => st.config.type === 'firewall'))) {
          await deleteRules('filter', (r) => r.chain === 'CNI-FORWARD' && ips.some((ip) => ip && new RegExp(`(^| )-[sd] ${ip.replace(/\./g, '\\.')}/32( |$)`).test(r.spec)));
          if (lastUser) await pruneSharedChains({ nat: false });
        }
      } catch (e) {
        failures.push((e as Error).message);
      }
    };
    // The namespace goes first: the kernel then destroys its veths (the host ends
    // leave their bridge with them) in its own netns cleanup, off this path, where
    // bridge DEL inside a live namespace waited ~35 ms per veth in `ip link del`. The
    // bridge DEL that follows, with no netns (as after a reboot), releases the lease.
    // (A process still in the namespace, e.g. `--network container:`, keeps it.)
    // Deferred, it goes after the caller's answer instead; the lease is released anyway
    // (from host-local's files, or bridge DEL without a netns, which leaves the links).
    const linkLane = async () => {
      if (!namespaceDeferred) await removeNetns(netnsPath);
      for (const n of reversed) {
        for (const step of [...n.steps].reverse()) {
          if (step.config.type !== 'bridge') continue;
          // What bridge DEL (without ipMasq) still had to do: release the host-local lease.
          const ipam = step.config.ipam as { type?: string; dataDir?: string } | undefined;
          const addresses = (n.result?.ips ?? []).map((ip) => ip.address);
          if (step.config.ipMasq !== true && ipam?.type === 'host-local' && ipam.dataDir && (await releaseHostLocalLeases(ipam.dataDir, networkKey(n.network), addresses, containerId, n.ifname).catch(() => false))) continue;
          await del(n, step, '');
        }
      }
    };
    const lanes = await Promise.allSettled([iptablesLane(), linkLane()]);
    const netnsFailure = lanes[1].status === 'rejected' ? lanes[1].reason : undefined;
    if (netnsFailure) throw netnsFailure;
  } else if (!namespaceDeferred) {
    await removeNetns(netnsPath);
  }
  await ctx.lock.run(() => ctx.attachments.delete(containerId));
  if (ctx.dns?.has(containerId)) await ctx.dns.update(containerId, undefined);
  if (failures.length > 0 && record?.phase === 'attached') {
    // Everything is cleaned as far as possible and the record is gone; say what failed.
    throw new BerthError('Internal', `network cleanup of ${containerId} was incomplete: ${failures.join('; ')}`);
  }
}
