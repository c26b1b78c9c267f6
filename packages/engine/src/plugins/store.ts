import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { ConflictError, InvalidArgumentError, NotFoundError, UnsupportedError, normalizeReference } from '@berth/image-format';
import { resolveInRoot } from '@berth/layer-store';
import type { Filters } from '../docker-types.js';
import type { EventBus } from '../events.js';
import { unpackPluginArchive } from './archive.js';
import { applySettings, initialSettings, parsePluginConfig, pluginPrivileges, type PluginConfig, type PluginPrivilege, type PluginSettings } from './config.js';

/** One managed plugin, as `GET /plugins/{name}/json` shows it. */
export interface Plugin {
  Config: PluginConfig;
  Enabled: boolean;
  Id: string;
  Name: string;
  PluginReference: string;
  Settings: PluginSettings;
}

/** An error Docker answers with 500 (not one of its classified errors): Berth does the same. */
class PluginError extends Error {}

const FULL_ID = /^[a-f0-9]{64}$/;

/**
 * Docker's managed plugins, as far as a local plugin goes: created from a tar
 * (`config.json` + `rootfs/`), listed, inspected, configured (`set`) and removed. Each lives
 * in `<root>/plugins/<id>/` (its object in config.json, its tree in rootfs/), as Docker keeps
 * them. Berth has no plugin runtime, so enabling one fails as Docker's does when a plugin
 * cannot start, and nothing is pulled or pushed (no plugin registry support).
 */
export class PluginStore {
  private readonly plugins = new Map<string, Plugin>();
  /** Names being created, so two creates of one name cannot both succeed. */
  private readonly creating = new Set<string>();

  private constructor(
    private readonly dir: string,
    private readonly events: EventBus,
    private readonly dockerVersion: string,
  ) {}

  static async open(root: string, events: EventBus, dockerVersion: string): Promise<PluginStore> {
    const dir = join(root, 'plugins');
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const store = new PluginStore(dir, events, dockerVersion);
    for (const name of await readdir(dir)) {
      const path = join(dir, name);
      // A create that did not finish leaves a tmp- directory: nothing refers to it.
      if (name.startsWith('tmp-')) {
        await rm(path, { recursive: true, force: true });
        continue;
      }
      if (!FULL_ID.test(name)) continue;
      try {
        const p = JSON.parse(await readFile(join(path, 'config.json'), 'utf8')) as Plugin;
        // Nothing runs a plugin across a restart: it comes back disabled.
        store.plugins.set(p.Id, { ...p, Enabled: false });
      } catch {
        // an unreadable plugin directory is left for the operator; it is not listed
      }
    }
    return store;
  }

  list(filters?: Filters): Plugin[] {
    const f = pluginFilters(filters);
    return [...this.plugins.values()].filter((p) => {
      if (f.enabled !== undefined && p.Enabled !== f.enabled) return false;
      if (f.capability.length > 0 && !f.capability.some((cap) => (p.Config.Interface.Types ?? []).some((t) => capabilityOf(t) === cap))) return false;
      return true;
    });
  }

  inspect(refOrId: string): Plugin {
    return this.get(refOrId);
  }

  async create(nameInput: string, body: Readable): Promise<void> {
    const name = pluginName(nameInput);
    if (this.creating.has(name) || [...this.plugins.values()].some((p) => p.Name === name)) {
      body.resume();
      throw new ConflictError(`plugin ${name} already exists`);
    }
    this.creating.add(name);
    const id = randomBytes(32).toString('hex');
    const tmp = join(this.dir, `tmp-${id}`);
    try {
      await mkdir(join(tmp, 'rootfs'), { recursive: true, mode: 0o700 });
      const archive = await unpackPluginArchive(body, join(tmp, 'rootfs'));
      const config: PluginConfig = { ...parsePluginConfig(archive.configBytes, this.dockerVersion), rootfs: { diff_ids: [archive.rootfsDiffId], type: 'layers' } };
      const plugin: Plugin = { Config: config, Enabled: false, Id: id, Name: name, PluginReference: name, Settings: initialSettings(config) };
      await writeFile(join(tmp, 'config.json'), JSON.stringify(plugin));
      await rename(tmp, join(this.dir, id));
      this.plugins.set(id, plugin);
      this.events.emit('plugin', 'create', id, { name });
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      throw err;
    } finally {
      this.creating.delete(name);
    }
  }

  /**
   * Enabling starts the plugin's entrypoint in its rootfs. Docker's own start of the
   * docker-py dummy plugin fails in the runtime (its entrypoint is a directory) with 500;
   * Berth answers the same failure for an entrypoint that cannot run, and says plainly that
   * it does not run plugins when the entrypoint could run. The plugin stays disabled.
   */
  async enable(refOrId: string): Promise<void> {
    const p = this.get(refOrId);
    if (p.Enabled) throw new ConflictError(`plugin ${p.Name} is already enabled`);
    const entry = p.Config.Entrypoint?.[0];
    if (!entry) throw new PluginError(`failed to start plugin ${p.Name}: no entrypoint in the plugin config`);
    const rootfs = join(this.dir, p.Id, 'rootfs');
    const host = await resolveInRoot(rootfs, entry.startsWith('/') ? entry : join(p.Config.WorkDir || '/', entry));
    const st = await stat(host).catch(() => undefined);
    if (!st) throw new PluginError(`failed to start plugin ${p.Name}: exec: "${entry}": stat ${entry}: no such file or directory`);
    if (!st.isFile() || (st.mode & 0o111) === 0) throw new PluginError(`failed to start plugin ${p.Name}: exec: "${entry}": permission denied`);
    throw new PluginError(`failed to start plugin ${p.Name}: Berth does not run managed plugins`);
  }

  async disable(refOrId: string): Promise<void> {
    const p = this.get(refOrId);
    if (!p.Enabled) throw new ConflictError(`plugin is already disabled: plugin ${p.Name} found but disabled`);
    p.Enabled = false;
    this.events.emit('plugin', 'disable', p.Id, { name: p.Name });
  }

  async remove(refOrId: string, force = false): Promise<void> {
    const p = this.get(refOrId);
    if (p.Enabled && !force) throw new ConflictError(`plugin ${p.Name} is enabled: disable it first or use force`);
    this.plugins.delete(p.Id);
    const path = join(this.dir, p.Id);
    // Renamed first, so a crash half way leaves a tmp- directory that open() clears.
    const doomed = join(this.dir, `tmp-rm-${p.Id}`);
    await rename(path, doomed);
    await rm(doomed, { recursive: true, force: true });
    this.events.emit('plugin', 'remove', p.Id, { name: p.Name });
  }

  async set(refOrId: string, args: string[]): Promise<void> {
    const p = this.get(refOrId);
    if (p.Enabled) throw new ConflictError('cannot set on an active plugin, disable plugin before setting');
    let settings: PluginSettings;
    try {
      settings = applySettings(p.Config, p.Settings, args);
    } catch (err) {
      if (err instanceof InvalidArgumentError) throw err;
      throw new PluginError((err as Error).message);
    }
    const next = { ...p, Settings: settings };
    const file = join(this.dir, p.Id, 'config.json');
    await writeFile(`${file}.tmp`, JSON.stringify(next));
    await rename(`${file}.tmp`, file);
    this.plugins.set(p.Id, next);
  }

  /** A plugin's privileges: of the installed one of that name (Berth cannot ask a registry). */
  privileges(remote: string): PluginPrivilege[] {
    const name = pluginName(remote);
    const p = [...this.plugins.values()].find((x) => x.Name === name);
    if (!p) throw new UnsupportedError(`plugin ${name}: Berth cannot fetch plugins from a registry (only local plugins, made with docker plugin create)`);
    return pluginPrivileges(p.Config);
  }

  pull(remote: string): never {
    throw new UnsupportedError(`plugin ${pluginName(remote)}: Berth cannot install plugins from a registry (only local plugins, made with docker plugin create)`);
  }

  /** Docker's lookup: a full ID, then the name (tag defaulting to latest), then a unique ID prefix. */
  private get(refOrId: string): Plugin {
    if (FULL_ID.test(refOrId)) {
      const p = this.plugins.get(refOrId);
      if (p) return p;
      throw notFound(refOrId);
    }
    let name: string | undefined;
    try {
      const ref = normalizeReference(refOrId);
      if (!ref.digest) name = ref.familiar();
    } catch {
      throw notFound(refOrId);
    }
    const named = [...this.plugins.values()].find((p) => p.Name === name);
    if (named) return named;
    const prefixed = [...this.plugins.values()].filter((p) => p.Id.startsWith(refOrId));
    if (prefixed.length > 1) throw new InvalidArgumentError(`multiple plugins found for "${refOrId}"`);
    if (prefixed.length === 1) return prefixed[0]!;
    throw notFound(refOrId);
  }
}

function notFound(input: string): NotFoundError {
  return new NotFoundError(`plugin "${input}" not found`);
}

/** `name[:tag]` as Docker stores it: familiar, tag defaulting to latest, digests refused. */
function pluginName(input: string): string {
  let ref;
  try {
    ref = normalizeReference(input);
  } catch {
    throw new PluginError(`failed to parse reference ${input}: invalid reference format`);
  }
  if (ref.digest) throw new InvalidArgumentError('canonical references are not permitted');
  return ref.familiar();
}

/** `docker.volumedriver/1.0` is the capability `volumedriver`. */
function capabilityOf(type: string): string {
  const noVersion = type.split('/')[0] ?? '';
  return noVersion.includes('.') ? noVersion.slice(noVersion.indexOf('.') + 1) : noVersion;
}

/** The list filters Docker accepts for plugins: `enabled` (true/false) and `capability`. */
function pluginFilters(filters: Filters | undefined): { enabled?: boolean; capability: string[] } {
  const out: { enabled?: boolean; capability: string[] } = { capability: [] };
  for (const [key, raw] of Object.entries(filters ?? {})) {
    const values = Array.isArray(raw) ? raw.map(String) : Object.entries(raw).filter(([, on]) => on).map(([v]) => v);
    if (key === 'capability') out.capability.push(...values);
    else if (key === 'enabled') {
      for (const v of values) {
        if (v !== 'true' && v !== 'false') throw new InvalidArgumentError(`Invalid filter 'enabled=${v}'`);
        out.enabled = v === 'true';
      }
    } else throw new InvalidArgumentError(`Invalid filter '${key}'`);
  }
  return out;
}
