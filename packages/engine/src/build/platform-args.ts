import { hostPlatform, parsePlatform } from '@berth/image-format';

/**
 * BuildKit's automatic platform ARGs: in the global scope without a declaration, and in a
 * stage once it declares them (`ARG TARGETARCH`). The target is the build's `platform`
 * (default: this machine), the build platform this machine.
 */
export function platformArgs(target: string | undefined): Map<string, string> {
  const host = hostPlatform();
  const t = target ? parsePlatform(target) : host;
  const out = new Map<string, string>();
  const set = (prefix: string, p: { os: string; architecture: string; variant?: string }): void => {
    out.set(`${prefix}PLATFORM`, [p.os, p.architecture, p.variant].filter(Boolean).join('/'));
    out.set(`${prefix}OS`, p.os);
    out.set(`${prefix}ARCH`, p.architecture);
    out.set(`${prefix}VARIANT`, p.variant ?? '');
  };
  set('BUILD', host);
  set('TARGET', t);
  return out;
}
