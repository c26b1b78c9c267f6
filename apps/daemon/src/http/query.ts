import { InvalidArgumentError } from '@berth/image-format';
import type { Filters, RegistryAuth } from '../engine-port.js';

export type QueryValue = string | string[] | undefined;
export type Query = Record<string, QueryValue>;

function first(v: QueryValue): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** Docker's BoolValue: anything but '', '0', 'no', 'false', 'none' is true. */
export function boolValue(v: QueryValue): boolean {
  const s = (first(v) ?? '').trim().toLowerCase();
  return !(s === '' || s === '0' || s === 'no' || s === 'false' || s === 'none');
}

/** Like boolValue but undefined when absent (so engine defaults apply). */
export function optBool(v: QueryValue): boolean | undefined {
  return first(v) === undefined ? undefined : boolValue(v);
}

export function optString(v: QueryValue): string | undefined {
  const s = first(v);
  return s === undefined || s === '' ? undefined : s;
}

export function optInt(v: QueryValue, name: string): number | undefined {
  const s = optString(v);
  if (s === undefined) return undefined;
  const n = Number(s);
  if (!Number.isInteger(n)) throw new InvalidArgumentError(`invalid value for ${name}: ${JSON.stringify(s)}`);
  return n;
}

/** All values of a repeatable parameter. */
export function stringList(v: QueryValue): string[] {
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).filter((s) => s !== '');
}

/** The `filters` parameter: JSON `{"k": ["v"]}` or the legacy `{"k": {"v": true}}`. */
export function filtersValue(v: QueryValue): Filters | undefined {
  const s = optString(v);
  if (s === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(s);
  } catch {
    throw new InvalidArgumentError(`invalid filter: ${s}`);
  }
  if (parsed === null) return undefined;
  if (typeof parsed !== 'object' || Array.isArray(parsed)) throw new InvalidArgumentError(`invalid filter: ${s}`);
  return parsed as Filters;
}

/** A Docker time parameter (`since`/`until`): unix seconds (fractional) or an RFC 3339 date. */
export function timeValue(v: QueryValue, name: string): number | undefined {
  const s = optString(v);
  if (s === undefined) return undefined;
  if (/^-?\d+(\.\d+)?$/.test(s)) return Number(s);
  const t = Date.parse(s);
  if (Number.isNaN(t)) throw new InvalidArgumentError(`invalid value for ${name}: ${JSON.stringify(s)}`);
  return t / 1000;
}

/** The X-Registry-Auth header: base64url(JSON). Docker ignores what it cannot decode. */
export function registryAuth(header: string | string[] | undefined): RegistryAuth | undefined {
  const h = first(header);
  if (!h) return undefined;
  try {
    const parsed = JSON.parse(Buffer.from(h, 'base64').toString('utf8')) as RegistryAuth;
    if (!parsed || typeof parsed !== 'object') return undefined;
    const auth: RegistryAuth = {};
    if (parsed.username) auth.username = parsed.username;
    if (parsed.password) auth.password = parsed.password;
    if (parsed.identitytoken) auth.identitytoken = parsed.identitytoken;
    if (parsed.registrytoken) auth.registrytoken = parsed.registrytoken;
    if (parsed.serveraddress) auth.serveraddress = parsed.serveraddress;
    const legacy = (parsed as { auth?: string }).auth;
    if (legacy && !auth.username) {
      const [u, ...p] = Buffer.from(legacy, 'base64').toString('utf8').split(':');
      auth.username = u ?? '';
      auth.password = p.join(':');
    }
    return Object.keys(auth).length > 0 ? auth : undefined;
  } catch {
    return undefined;
  }
}
