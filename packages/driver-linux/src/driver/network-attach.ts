import { UnsupportedError } from '@berth/image-format';
import type { ContainerSpec } from '@berth/runtime';
import type { ContainerNetworker } from './options.js';

type Attachment = Awaited<ReturnType<ContainerNetworker['attach']>>;

/** How an attach ended: its result, or its error (never a rejection: the caller undoes first). */
export type SettledAttach = { res?: Attachment; err?: unknown };

export interface PendingAttach {
  /** Settles when the plugins are done. */
  attaching: Promise<SettledAttach>;
  /** The namespace's path as soon as it exists, before the plugins run. */
  namespaceReady: Promise<string>;
}

/**
 * Starts joining the container's networks (`bridge`, or a network's name): the namespace
 * is known first, so the process can be made in it while CNI ADD runs; it has to be done
 * before the container starts.
 */
export function startAttach(network: ContainerNetworker, spec: ContainerSpec, mode: string, hostname: string, hostFilesDir: string): PendingAttach {
  const options: Parameters<ContainerNetworker['attach']>[1] = { mode: 'bridge', hostname, hostFilesDir };
  const nets = spec.network?.networks ?? (mode === 'bridge' ? [] : [{ name: mode }]);
  options.networks = nets.map((n) => ({
    name: n.name,
    ...(n.aliases ? { aliases: n.aliases } : {}),
    ...(n.ipv4Address ? { ipv4Address: n.ipv4Address } : {}),
    ...(n.ipv6Address ? { ipv6Address: n.ipv6Address } : {}),
    ...(n.mac ? { mac: n.mac } : {}),
    ...(n.links?.length ? { links: n.links } : {}),
  }));
  if (spec.network?.ports) options.ports = spec.network.ports.map((p) => ({ ...p, protocol: p.protocol ?? 'tcp' }));
  const namespaceReady = new Promise<string>((resolve) => (options.onNamespace = resolve));
  const attaching = network.attach(spec.id, options).then(
    (res): SettledAttach => ({ res }),
    (err: unknown): SettledAttach => ({ err }),
  );
  return { attaching, namespaceReady };
}

/** The namespace's path, or the attach's end if that comes first (a failure before the namespace). */
export function firstNamespace(p: PendingAttach): Promise<{ path: string } | SettledAttach> {
  return Promise.race([p.namespaceReady.then((path) => ({ path })), p.attaching]);
}

/** The attached addresses (an IPv6 one gets its own /etc/hosts line, as in Docker) and nameservers. */
export function attachedAddresses(settled: SettledAttach): { netnsPath: string; ips: string[]; nameservers: string[] } {
  if (!settled.res) throw settled.err;
  if (!settled.res.netnsPath) throw new UnsupportedError('network manager returned no namespace');
  return {
    netnsPath: settled.res.netnsPath,
    ips: settled.res.interfaces.flatMap((i) => (i.ip6 ? [i.ip, i.ip6] : [i.ip])),
    nameservers: settled.res.nameservers ?? [],
  };
}
