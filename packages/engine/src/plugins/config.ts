import { InvalidArgumentError } from '@berth/image-format';

// A managed plugin's config.json as Docker's API shows it (types.PluginConfig of API 1.41).
// Docker decodes config.json with Go's case-insensitive field matching, so `entrypoint`
// and `Entrypoint` are the same field; the API answers with the canonical names, every
// field present, in the struct's (alphabetical) order.

export interface PluginEnv {
  Description: string;
  Name: string;
  Settable: string[] | null;
  Value: string | null;
}

export interface PluginMount {
  Description: string;
  Destination: string;
  Name: string;
  Options: string[] | null;
  Settable: string[] | null;
  Source: string | null;
  Type: string;
}

export interface PluginDevice {
  Description: string;
  Name: string;
  Path: string | null;
  Settable: string[] | null;
}

export interface PluginConfig {
  Args: { Description: string; Name: string; Settable: string[] | null; Value: string[] | null };
  Description: string;
  DockerVersion: string;
  Documentation: string;
  Entrypoint: string[] | null;
  Env: PluginEnv[] | null;
  Interface: { Socket: string; Types: string[] | null; ProtocolScheme?: string };
  IpcHost: boolean;
  Linux: { AllowAllDevices: boolean; Capabilities: string[] | null; Devices: PluginDevice[] | null };
  Mounts: PluginMount[] | null;
  Network: { Type: string };
  PidHost: boolean;
  PropagatedMount: string;
  User: { UID?: number; GID?: number };
  WorkDir: string;
  rootfs: { diff_ids: string[]; type: string };
}

export interface PluginSettings {
  Args: string[];
  Devices: PluginDevice[];
  Env: string[];
  Mounts: PluginMount[];
}

export interface PluginPrivilege {
  Name: string;
  Description: string;
  Value: string[];
}

type Obj = Record<string, unknown>;

/** Go's case-insensitive lookup of a JSON field. */
function field(o: Obj, name: string): unknown {
  if (name in o) return o[name];
  const lower = name.toLowerCase();
  for (const [k, v] of Object.entries(o)) if (k.toLowerCase() === lower) return v;
  return undefined;
}

function obj(v: unknown, what: string): Obj {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw new InvalidArgumentError(`${what}: expected an object`);
  return v as Obj;
}
function str(o: Obj, name: string, what: string): string {
  const v = field(o, name);
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw new InvalidArgumentError(`${what}.${name}: expected a string`);
  return v;
}
function optStr(o: Obj, name: string, what: string): string | null {
  const v = field(o, name);
  return v === undefined || v === null ? null : str(o, name, what);
}
function bool(o: Obj, name: string, what: string): boolean {
  const v = field(o, name);
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean') throw new InvalidArgumentError(`${what}.${name}: expected a boolean`);
  return v;
}
function strs(o: Obj, name: string, what: string): string[] | null {
  const v = field(o, name);
  if (v === undefined || v === null) return null;
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new InvalidArgumentError(`${what}.${name}: expected a list of strings`);
  return v as string[];
}
function list<T>(o: Obj, name: string, what: string, each: (x: Obj, what: string) => T): T[] | null {
  const v = field(o, name);
  if (v === undefined || v === null) return null;
  if (!Array.isArray(v)) throw new InvalidArgumentError(`${what}.${name}: expected a list`);
  return v.map((x, i) => each(obj(x, `${what}.${name}[${i}]`), `${what}.${name}[${i}]`));
}

/** Parses a plugin's config.json (the bytes sent to /plugins/create) into the API's shape. */
export function parsePluginConfig(bytes: Buffer, dockerVersion: string): Omit<PluginConfig, 'rootfs'> {
  let raw: unknown;
  try {
    raw = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new InvalidArgumentError(`config.json: ${(err as Error).message}`);
  }
  const c = obj(raw, 'config.json');
  const w = 'config.json';
  const args = obj(field(c, 'args'), `${w}.args`);
  const iface = obj(field(c, 'interface'), `${w}.interface`);
  const linux = obj(field(c, 'linux'), `${w}.linux`);
  const network = obj(field(c, 'network'), `${w}.network`);
  const user = obj(field(c, 'user'), `${w}.user`);
  const scheme = str(iface, 'protocolscheme', `${w}.interface`);
  const uid = field(user, 'uid');
  const gid = field(user, 'gid');
  return {
    Args: { Description: str(args, 'description', `${w}.args`), Name: str(args, 'name', `${w}.args`), Settable: strs(args, 'settable', `${w}.args`), Value: strs(args, 'value', `${w}.args`) },
    Description: str(c, 'description', w),
    DockerVersion: dockerVersion,
    Documentation: str(c, 'documentation', w),
    Entrypoint: strs(c, 'entrypoint', w),
    Env: list(c, 'env', w, (e, ew) => ({ Description: str(e, 'description', ew), Name: str(e, 'name', ew), Settable: strs(e, 'settable', ew), Value: optStr(e, 'value', ew) })),
    Interface: { Socket: str(iface, 'socket', `${w}.interface`), Types: strs(iface, 'types', `${w}.interface`), ...(scheme ? { ProtocolScheme: scheme } : {}) },
    IpcHost: bool(c, 'ipchost', w),
    Linux: {
      AllowAllDevices: bool(linux, 'allowalldevices', `${w}.linux`),
      Capabilities: strs(linux, 'capabilities', `${w}.linux`),
      Devices: list(linux, 'devices', `${w}.linux`, (d, dw) => ({ Description: str(d, 'description', dw), Name: str(d, 'name', dw), Path: optStr(d, 'path', dw), Settable: strs(d, 'settable', dw) })),
    },
    Mounts: list(c, 'mounts', w, (m, mw) => ({
      Description: str(m, 'description', mw),
      Destination: str(m, 'destination', mw),
      Name: str(m, 'name', mw),
      Options: strs(m, 'options', mw),
      Settable: strs(m, 'settable', mw),
      Source: optStr(m, 'source', mw),
      Type: str(m, 'type', mw),
    })),
    Network: { Type: str(network, 'type', `${w}.network`) },
    PidHost: bool(c, 'pidhost', w),
    PropagatedMount: str(c, 'propagatedmount', w),
    User: { ...(typeof uid === 'number' ? { UID: uid } : {}), ...(typeof gid === 'number' ? { GID: gid } : {}) },
    WorkDir: str(c, 'workdir', w),
  };
}

/** The settings a new plugin starts with: its config's values (Docker's InitEmptySettings). */
export function initialSettings(c: PluginConfig): PluginSettings {
  return {
    Args: [...(c.Args.Value ?? [])],
    Devices: [...(c.Linux.Devices ?? [])],
    Env: (c.Env ?? []).filter((e) => e.Value !== null).map((e) => `${e.Name}=${e.Value}`),
    Mounts: [...(c.Mounts ?? [])],
  };
}

/** What a plugin asks for, as `docker plugin install` shows it before granting (Docker's ComputePrivileges). */
export function pluginPrivileges(c: PluginConfig): PluginPrivilege[] {
  const out: PluginPrivilege[] = [];
  if (c.Network.Type !== '' && c.Network.Type !== 'null' && c.Network.Type !== 'none') {
    out.push({ Name: 'network', Description: 'permissions to access a network', Value: [c.Network.Type] });
  }
  if (c.IpcHost) out.push({ Name: 'host ipc namespace', Description: 'allow access to host ipc namespace', Value: ['true'] });
  if (c.PidHost) out.push({ Name: 'host pid namespace', Description: 'allow access to host pid namespace', Value: ['true'] });
  for (const m of c.Mounts ?? []) {
    if (m.Source !== null) out.push({ Name: 'mount', Description: 'host path to mount', Value: [m.Source] });
  }
  for (const d of c.Linux.Devices ?? []) {
    if (d.Path !== null) out.push({ Name: 'device', Description: 'host device to access', Value: [d.Path] });
  }
  if (c.Linux.AllowAllDevices) out.push({ Name: 'allow-all-devices', Description: 'allow \'rwm\' access to all devices', Value: ['true'] });
  if ((c.Linux.Capabilities ?? []).length > 0) out.push({ Name: 'capabilities', Description: 'list of additional capabilities required', Value: c.Linux.Capabilities! });
  return out;
}

/**
 * `docker plugin set` arguments applied to the settings, as Docker: `NAME=value` for an env
 * variable whose Settable has "value", `mount.source=`, `device.path=`, or the args' name.
 */
export function applySettings(c: PluginConfig, settings: PluginSettings, args: string[]): PluginSettings {
  const out: PluginSettings = { Args: [...settings.Args], Devices: settings.Devices.map((d) => ({ ...d })), Env: [...settings.Env], Mounts: settings.Mounts.map((m) => ({ ...m })) };
  for (const arg of args) {
    const eq = arg.indexOf('=');
    if (eq <= 0) throw new InvalidArgumentError(`invalid argument format: "${arg}"`);
    const [key, value] = [arg.slice(0, eq), arg.slice(eq + 1)];
    const dot = key.indexOf('.');
    const name = dot < 0 ? key : key.slice(0, dot);
    const sub = dot < 0 ? '' : key.slice(dot + 1);
    const settable = (allowed: string[], declared: string[] | null, fieldName: string): void => {
      const wanted = sub || fieldName;
      if (!allowed.includes(wanted)) throw new InvalidArgumentError(`"${key}" is not a valid setting`);
      if (!(declared ?? []).includes(wanted)) throw new InvalidArgumentError(`"${key}" is not settable`);
    };
    const env = (c.Env ?? []).find((e) => e.Name === name);
    if (env) {
      settable(['value'], env.Settable, 'value');
      out.Env = [...out.Env.filter((e) => !e.startsWith(`${name}=`)), `${name}=${value}`];
      continue;
    }
    const mount = out.Mounts.find((m) => m.Name === name);
    if (mount) {
      settable(['source'], mount.Settable, 'source');
      mount.Source = value;
      continue;
    }
    const device = out.Devices.find((d) => d.Name === name);
    if (device) {
      settable(['path'], device.Settable, 'path');
      device.Path = value;
      continue;
    }
    if (c.Args.Name !== '' && c.Args.Name === name) {
      settable(['value'], c.Args.Settable, 'value');
      out.Args = value.split(/\s+/).filter((s) => s !== '');
      continue;
    }
    throw new SettingNotFound(name);
  }
  return out;
}

/** Docker answers this one with 500 (an unclassified error), and so does Berth. */
export class SettingNotFound extends Error {
  constructor(name: string) {
    super(`setting "${name}" not found in the plugin configuration`);
  }
}
