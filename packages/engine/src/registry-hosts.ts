import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Per-registry mirrors from containerd's hosts directory (`<dir>/<registry host>/hosts.toml`,
 * what clusters use to point `registry.k8s.io` at a local mirror), plus daemon.json's
 * `registry-mirrors` for docker.io. Read: `server` and each `[host."<url>"]` whose
 * `capabilities` include `pull` (or that lists none), in file order, then the server when
 * it is not the registry itself. The directory `_default` applies to every registry
 * without its own. Anything else in the files is ignored.
 */
export async function readRegistryHosts(dir: string | undefined, dockerMirrors: string[] = []): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  if (dockerMirrors.length > 0) out['docker.io'] = [...dockerMirrors];
  if (!dir) return out;
  const names = await readdir(dir).catch(() => [] as string[]);
  for (const name of names) {
    const text = await readFile(join(dir, name, 'hosts.toml'), 'utf8').catch(() => undefined);
    if (text === undefined) continue;
    const mirrors = parseHostsToml(text, name);
    if (mirrors.length === 0) continue;
    const registry = name === 'docker.io' || name === 'registry-1.docker.io' ? 'docker.io' : name;
    out[registry] = [...mirrors, ...(out[registry] ?? [])];
  }
  return out;
}

/** The pull mirrors a hosts.toml lists (URLs as written), the `server` last unless it is the registry. */
export function parseHostsToml(text: string, registry: string): string[] {
  const hosts: { url: string; pull: boolean }[] = [];
  let server: string | undefined;
  let current: { url: string; pull: boolean } | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*$/, '').trim();
    if (!line) continue;
    const section = /^\[\s*host\.(?:"([^"]+)"|'([^']+)')\s*\]$/.exec(line);
    if (section) {
      current = { url: (section[1] ?? section[2])!, pull: true };
      hosts.push(current);
      continue;
    }
    if (line.startsWith('[')) {
      current = undefined; // another table ([host."x".header] and such)
      continue;
    }
    const kv = /^([A-Za-z_]+)\s*=\s*(.+)$/.exec(line);
    if (!kv) continue;
    if (!current && kv[1] === 'server') server = unquote(kv[2]!);
    if (current && kv[1] === 'capabilities') {
      const caps = [...kv[2]!.matchAll(/["']([^"']+)["']/g)].map((m) => m[1]);
      current.pull = caps.includes('pull');
    }
  }
  const list = hosts.filter((h) => h.pull).map((h) => h.url.replace(/\/v2\/?$/, ''));
  if (server) {
    const host = server.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
    if (host !== registry && !(registry === 'docker.io' && host === 'registry-1.docker.io')) list.push(server.replace(/\/v2\/?$/, ''));
  }
  return list;
}

const unquote = (v: string): string => v.trim().replace(/^["']|["']$/g, '');
