import { InvalidArgumentError } from '@berth/image-format';
import type { Filters } from './docker-types.js';

/** Normalised filters: key -> values. Accepts Docker's both forms (`[..]` and `{v: true}`). */
export class FilterSet {
  private readonly map = new Map<string, string[]>();

  constructor(filters: Filters | undefined, allowed: readonly string[]) {
    for (const [key, raw] of Object.entries(filters ?? {})) {
      const values = Array.isArray(raw) ? raw : Object.entries(raw).filter(([, on]) => on).map(([v]) => v);
      if (!allowed.includes(key)) throw new InvalidArgumentError(`invalid filter '${key}'`);
      this.map.set(key, values.map(String));
    }
  }

  has(key: string): boolean {
    return (this.map.get(key)?.length ?? 0) > 0;
  }

  get(key: string): string[] {
    return this.map.get(key) ?? [];
  }

  /** True when the key is absent or any of its values matches. */
  matchAny(key: string, test: (value: string) => boolean): boolean {
    const v = this.map.get(key);
    if (!v || v.length === 0) return true;
    return v.some(test);
  }

  /** Label filter semantics: every `k` / `k=v` given must hold. */
  matchLabels(key: string, labels: Record<string, string> | null | undefined): boolean {
    const v = this.map.get(key);
    if (!v || v.length === 0) return true;
    const l = labels ?? {};
    return v.every((want) => {
      const eq = want.indexOf('=');
      if (eq < 0) return Object.hasOwn(l, want);
      return l[want.slice(0, eq)] === want.slice(eq + 1);
    });
  }

  /** `true`/`1` -> true, `false`/`0` -> false, absent -> undefined. */
  bool(key: string): boolean | undefined {
    const v = this.map.get(key)?.[0];
    if (v === undefined) return undefined;
    if (v === 'true' || v === '1') return true;
    if (v === 'false' || v === '0') return false;
    throw new InvalidArgumentError(`invalid filter '${key}=${v}'`);
  }
}
