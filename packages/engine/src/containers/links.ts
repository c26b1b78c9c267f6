import { BerthError, InvalidArgumentError, NotFoundError } from '@berth/image-format';
import type { ContainerRecord } from './record.js';

/*
 * Docker's legacy links (`--link name:alias` on the default bridge): at each start the
 * linking container gets the linked one's address in /etc/hosts under the alias, its
 * hostname and its name, and environment variables describing it (moby's
 * daemon/links: ALIAS_NAME, ALIAS_PORT..., ALIAS_ENV_...). Clients still read them.
 */

export interface LegacyLink {
  /** The linked container's name, without the leading slash. */
  target: string;
  alias: string;
}

/** `name:alias`, `/name:/parent/alias` (as inspect shows them) or `name` (the alias is the name). */
export function parseLink(text: string): LegacyLink {
  const [rawTarget = '', rawAlias] = text.split(':');
  const target = rawTarget.replace(/^\//, '');
  const alias = (rawAlias ?? target).replace(/^.*\//, '');
  if (!target || !alias) throw new InvalidArgumentError(`invalid link ${JSON.stringify(text)}`);
  return { target, alias };
}

/** HostConfig.Links as Docker's inspect shows them: `/target:/parent/alias`. */
export function shownLinks(r: ContainerRecord): string[] | null {
  const links = r.hostConfig.Links ?? [];
  return links.length > 0 ? links.map((l) => parseLink(l)).map((l) => `/${l.target}:/${r.name}/${l.alias}`) : null;
}

/** What a linked container contributes, read from its record while it runs. */
export interface LinkedContainer {
  name: string;
  hostname: string;
  ip: string;
  env: string[];
  exposedPorts: string[];
}

/** The environment moby's links.ToEnv gives for one link (before the container's own Env, which wins). */
export function linkEnv(parentName: string, alias: string, child: LinkedContainer): string[] {
  const prefix = alias.toUpperCase().replace(/-/g, '_');
  const ports = child.exposedPorts
    .map((p) => {
      const [port = '', proto = 'tcp'] = p.split('/');
      return { port: Number(port), proto: proto.toLowerCase() };
    })
    .filter((p) => Number.isInteger(p.port) && p.port > 0)
    // by number, tcp first on a tie
    .sort((a, b) => a.port - b.port || (a.proto === 'tcp' ? -1 : b.proto === 'tcp' ? 1 : 0));
  const env: string[] = [];
  const ip = child.ip;
  const first = ports[0];
  if (first) env.push(`${prefix}_PORT=${first.proto}://${ip}:${first.port}`);
  // runs of three or more ports get _START/_END variables too; as moby's nextContiguous,
  // each following port (whatever its protocol) extends the run while its number is at
  // most one past the count so far
  for (let i = 0; i < ports.length; ) {
    const p = ports[i]!;
    let j = ports.length - 1;
    for (let k = i + 1, value = p.port; k < ports.length; k++, value++) {
      if (ports[k]!.port > value + 1) {
        j = k - 1;
        break;
      }
    }
    if (j > i + 1) {
      const q = ports[j]!;
      const key = `${prefix}_PORT_${p.port}_${p.proto.toUpperCase()}`;
      env.push(`${key}_START=${p.proto}://${ip}:${p.port}`, `${key}_ADDR=${ip}`, `${key}_PROTO=${p.proto}`, `${key}_PORT_START=${p.port}`);
      const endKey = `${prefix}_PORT_${p.port}_${q.proto.toUpperCase()}`;
      env.push(`${endKey}_END=${q.proto}://${ip}:${q.port}`, `${endKey}_PORT_END=${q.port}`);
      i = j + 1;
    } else {
      i++;
    }
  }
  for (const p of ports) {
    const key = `${prefix}_PORT_${p.port}_${p.proto.toUpperCase()}`;
    env.push(`${key}=${p.proto}://${ip}:${p.port}`, `${key}_ADDR=${ip}`, `${key}_PORT=${p.port}`, `${key}_PROTO=${p.proto}`);
  }
  env.push(`${prefix}_NAME=/${parentName}/${alias}`);
  for (const e of child.env) {
    const eq = e.indexOf('=');
    if (eq <= 0) continue;
    const k = e.slice(0, eq);
    // as moby: variables a build adds say nothing about the linked container
    if (k === 'HOME' || k === 'PATH') continue;
    env.push(`${prefix}_ENV_${k}=${e.slice(eq + 1)}`);
  }
  return dedupe(env);
}

/** One variable per name, where it first came, with its last value (as Docker's env merge). */
function dedupe(env: string[]): string[] {
  const at = new Map<string, number>();
  const out: string[] = [];
  for (const e of env) {
    const k = e.slice(0, e.indexOf('='));
    const i = at.get(k);
    if (i === undefined) {
      at.set(k, out.length);
      out.push(e);
    } else {
      out[i] = e;
    }
  }
  return out;
}

/** The /etc/hosts line of a link, as an ExtraHosts entry (`names:ip`): alias, hostname, then name unless it is the alias. */
export function linkHostsEntry(alias: string, child: LinkedContainer): string {
  const names = [alias, child.hostname, ...(alias !== child.name ? [child.name] : [])];
  return `${names.join(' ')}:${child.ip}`;
}

/**
 * The environment and hosts entries of a container's legacy links at start. Docker
 * refuses to start a container whose linked container is not running.
 */
export function resolveLinks(r: ContainerRecord, lookup: (name: string) => ContainerRecord | undefined): { env: string[]; hosts: string[] } {
  const env: string[] = [];
  const hosts: string[] = [];
  for (const text of r.hostConfig.Links ?? []) {
    const link = parseLink(text);
    const child = lookup(link.target);
    if (!child) throw new NotFoundError(`could not get container for ${link.target}`);
    if (child.state.status !== 'running' && child.state.status !== 'paused') {
      throw new BerthError('Internal', `Cannot link to a non running container: /${child.name} AS /${r.name}/${link.alias}`);
    }
    const ip = child.networks['bridge']?.IPAddress;
    if (!ip) continue;
    const linked: LinkedContainer = {
      name: child.name,
      hostname: child.config.Hostname ?? child.id.slice(0, 12),
      ip,
      env: child.config.Env ?? [],
      exposedPorts: Object.keys(child.config.ExposedPorts ?? {}),
    };
    env.push(...linkEnv(r.name, link.alias, linked));
    hosts.push(linkHostsEntry(link.alias, linked));
  }
  return { env, hosts };
}

/** Docker's env merge: the container's own variables replace same-named link ones. */
export function withLinkEnv(linkVars: string[], own: string[]): string[] {
  const ownKeys = new Set(own.map((e) => e.split('=')[0]));
  return [...dedupe(linkVars).filter((e) => !ownKeys.has(e.split('=')[0])), ...own];
}

/**
 * DELETE /containers/{parent}/{alias}?link=1: the link goes from the parent's HostConfig.
 * Answers as dockerd: a name without a parent is "the default link name".
 */
export function removeLink(ref: string, lookup: (name: string) => ContainerRecord | undefined): ContainerRecord {
  const path = ref.replace(/^\//, '');
  const slash = path.lastIndexOf('/');
  if (slash < 0) throw new BerthError('Internal', 'Conflict, cannot remove the default link name of the container');
  const parent = lookup(path.slice(0, slash));
  const alias = path.slice(slash + 1);
  const links = parent?.hostConfig.Links ?? [];
  const kept = links.filter((l) => parseLink(l).alias !== alias);
  if (!parent || kept.length === links.length) throw new NotFoundError(`No such container: ${path}`);
  parent.hostConfig.Links = kept.length > 0 ? kept : null;
  return parent;
}

/** Names a container answers to through others' links (`/parent/alias`), for ps's Names. */
export function linkNames(all: ContainerRecord[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const parent of all) {
    for (const text of parent.hostConfig.Links ?? []) {
      const { target, alias } = parseLink(text);
      out.set(target, [...(out.get(target) ?? []), `/${parent.name}/${alias}`]);
    }
  }
  return out;
}
