import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ContainerSpec } from '@berth/runtime';

interface EtcFiles {
  hostname: string;
  hosts: string;
  resolvConf: string;
}

/** Nameservers on loopback only work in the host's network namespace. */
function containerResolvConf(hostText: string, hostNetwork: boolean): string {
  if (hostNetwork) return hostText;
  const lines = hostText.split('\n').filter((l) => {
    const m = /^\s*nameserver\s+(\S+)/.exec(l);
    return !m || !(m[1]?.startsWith('127.') || m[1] === '::1');
  });
  if (!lines.some((l) => /^\s*nameserver\s/.test(l))) lines.push('nameserver 8.8.8.8', 'nameserver 8.8.4.4');
  return lines.join('\n').replace(/\n*$/, '\n');
}

/**
 * Writes hostname, hosts and resolv.conf into the bundle; they are bind-mounted over
 * the container's /etc files. `ips` are the container's addresses (bridge mode).
 * `nameservers` (the embedded DNS of a user network) come first in resolv.conf, before
 * `--dns` servers, with the host's or the spec's search and options.
 */
export async function writeEtcFiles(bundle: string, spec: ContainerSpec, hostname: string, ips: string[] = [], nameservers: string[] = []): Promise<EtcFiles> {
  const mode = spec.network?.mode ?? 'none';
  const hostNetwork = mode === 'host';
  const fqdn = spec.domainname ? `${hostname}.${spec.domainname}` : hostname;
  let hosts: string;
  if (hostNetwork) {
    hosts = await readFile('/etc/hosts', 'utf8').catch(() => '127.0.0.1\tlocalhost\n');
  } else {
    hosts = [
      '127.0.0.1\tlocalhost',
      '::1\tlocalhost ip6-localhost ip6-loopback',
      'fe00::0\tip6-localnet',
      'ff00::0\tip6-mcastprefix',
      'ff02::1\tip6-allnodes',
      'ff02::2\tip6-allrouters',
      ...ips.map((ip) => `${ip}\t${fqdn === hostname ? hostname : `${fqdn} ${hostname}`}`),
      '',
    ].join('\n');
  }
  for (const entry of spec.network?.extraHosts ?? []) {
    const i = entry.lastIndexOf(':');
    // host:ip, where ip may itself be IPv6 (first colon separates the name)
    const first = entry.indexOf(':');
    const name = entry.slice(0, first);
    const ip = entry.slice(first + 1);
    if (i > 0 && name && ip) hosts += `${ip}\t${name}\n`;
  }
  let resolv: string;
  const dns = spec.network?.dns;
  if (nameservers.length > 0 && !hostNetwork) {
    const host = (await readFile('/etc/resolv.conf', 'utf8').catch(() => '')).split('\n');
    const lines = dns?.search?.length ? [`search ${dns.search.join(' ')}`] : host.filter((l) => /^\s*(search|domain)\s/.test(l));
    for (const s of [...nameservers, ...(dns?.servers ?? [])].slice(0, 3)) lines.push(`nameserver ${s}`);
    lines.push(...(dns?.options?.length ? [`options ${dns.options.join(' ')}`] : host.filter((l) => /^\s*options\s/.test(l))));
    resolv = lines.join('\n') + '\n';
  } else if (dns && (dns.servers?.length || dns.search?.length || dns.options?.length)) {
    const base = containerResolvConf(await readFile('/etc/resolv.conf', 'utf8').catch(() => ''), hostNetwork);
    const lines: string[] = [];
    const servers = dns.servers?.length ? dns.servers : base.split('\n').filter((l) => /^\s*nameserver\s/.test(l)).map((l) => l.trim().split(/\s+/)[1] as string);
    if (dns.search?.length) lines.push(`search ${dns.search.join(' ')}`);
    for (const s of servers) lines.push(`nameserver ${s}`);
    if (dns.options?.length) lines.push(`options ${dns.options.join(' ')}`);
    resolv = lines.join('\n') + '\n';
  } else {
    resolv = containerResolvConf(await readFile('/etc/resolv.conf', 'utf8').catch(() => ''), hostNetwork);
  }
  const files: EtcFiles = {
    hostname: join(bundle, 'hostname'),
    hosts: join(bundle, 'hosts'),
    resolvConf: join(bundle, 'resolv.conf'),
  };
  await writeFile(files.hostname, `${hostNetwork ? (await readFile('/etc/hostname', 'utf8').catch(() => 'localhost\n')).trim() : hostname}\n`);
  await writeFile(files.hosts, hosts);
  await writeFile(files.resolvConf, resolv);
  return files;
}

/**
 * Adds `ip names...` to a container's hosts file in place (same inode: the file is
 * bind-mounted), unless a line for `ip` is there.
 */
export async function addHostsEntry(path: string, ip: string, names: string[]): Promise<void> {
  const text = await readFile(path, 'utf8');
  if (text.split('\n').some((l) => l.split(/\s+/)[0] === ip)) return;
  await writeFile(path, `${text.replace(/\n*$/, '\n')}${ip}\t${names.join(' ')}\n`);
}

/** Removes the lines for `ip` from a container's hosts file in place. */
export async function removeHostsEntries(path: string, ip: string): Promise<void> {
  const text = await readFile(path, 'utf8');
  const kept = text.split('\n').filter((l) => l.split(/\s+/)[0] !== ip);
  const next = kept.join('\n');
  if (next !== text) await writeFile(path, next);
}

/**
 * Rewrites a container's resolv.conf in place when its embedded nameserver changes
 * (network connect/disconnect): the `drop` nameservers go, `first` comes before the
 * others; with no nameserver left, the host's (non-loopback) ones come back.
 */
export async function retargetResolvConf(path: string, drop: string[], first?: string): Promise<void> {
  const text = await readFile(path, 'utf8');
  const isServer = (l: string) => /^\s*nameserver\s/.test(l);
  const server = (l: string) => l.trim().split(/\s+/)[1] ?? '';
  const lines = text.split('\n').filter((l) => !(isServer(l) && (drop.includes(server(l)) || server(l) === first)));
  const at = lines.findIndex(isServer);
  if (first) lines.splice(at >= 0 ? at : lines.findIndex((l) => !/^\s*(search|domain)\s/.test(l)), 0, `nameserver ${first}`);
  let next = lines.join('\n').replace(/\n*$/, '\n');
  if (!lines.some(isServer)) {
    const host = containerResolvConf(await readFile('/etc/resolv.conf', 'utf8').catch(() => ''), false);
    next += host.split('\n').filter(isServer).join('\n') + '\n';
  }
  if (next !== text) await writeFile(path, next);
}
