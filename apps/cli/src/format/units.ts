import { humanDuration } from '@berth/engine-api';
import { InvalidArgumentError } from '@berth/image-format';
// Docker's human units (github.com/docker/go-units): sizes in decimal units with Go's
// %g precision; durations in words are @berth/engine-api's humanDuration, which berthd's
// Status text uses too.

const DECIMAL = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB', 'ZB', 'YB'];
const BINARY = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB', 'ZiB', 'YiB'];

/** Go's `%.<p>g`: `p` significant digits, trailing zeros dropped. */
export function formatG(value: number, precision: number): string {
  if (value === 0) return '0';
  const exp = Math.floor(Math.log10(Math.abs(value)));
  if (exp < -4 || exp >= precision) {
    const [m, e] = value.toExponential(precision - 1).split('e') as [string, string];
    const mant = m.includes('.') ? m.replace(/0+$/, '').replace(/\.$/, '') : m;
    const n = Number(e);
    return `${mant}e${n < 0 ? '-' : '+'}${String(Math.abs(n)).padStart(2, '0')}`;
  }
  const fixed = value.toFixed(Math.max(0, precision - 1 - exp));
  return fixed.includes('.') ? fixed.replace(/0+$/, '').replace(/\.$/, '') : fixed;
}

function custom(size: number, precision: number, base: number, units: string[]): string {
  let i = 0;
  while (size >= base && i < units.length - 1) {
    size /= base;
    i++;
  }
  return `${formatG(size, precision)}${units[i]}`;
}

/** `units.HumanSizeWithPrecision`: `4.26MB` (precision 3 is what `docker images` shows). */
export function humanSize(bytes: number, precision = 4): string {
  return custom(bytes, precision, 1000, DECIMAL);
}

/** `units.BytesSize`: `1.5GiB` (memory in `docker stats`). */
export function bytesSize(bytes: number): string {
  return custom(bytes, 4, 1024, BINARY);
}

/** `2 minutes ago`, from unix seconds. */
export function timeAgo(unixSeconds: number, now = Date.now()): string {
  return `${humanDuration(now - unixSeconds * 1000)} ago`;
}

/** Go's `time.Time.String()` in local time: `2026-11-27 06:40:00 +0000 UTC`. */
export function goTimeString(date: Date): string {
  const p = (n: number, w = 2): string => String(n).padStart(w, '0');
  const off = -date.getTimezoneOffset();
  const sign = off >= 0 ? '+' : '-';
  const abs = Math.abs(off);
  const zone = off === 0 ? 'UTC' : timeZoneAbbr(date);
  return (
    `${date.getFullYear()}-${p(date.getMonth() + 1)}-${p(date.getDate())} ` +
    `${p(date.getHours())}:${p(date.getMinutes())}:${p(date.getSeconds())} ` +
    `${sign}${p(Math.trunc(abs / 60))}${p(abs % 60)} ${zone}`
  );
}

function timeZoneAbbr(date: Date): string {
  const part = new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' }).formatToParts(date).find((x) => x.type === 'timeZoneName');
  return part?.value ?? '';
}

/** Parses `512m`, `1g`, `1024` (bytes) as Docker's RAMInBytes does (binary multiples). */
export function parseBytes(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?b)?\s*$/i.exec(text);
  if (!m) throw new InvalidArgumentError(`invalid size: '${text}'`);
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 }[(m[2] ?? '').toLowerCase() as '' | 'k' | 'm' | 'g' | 't' | 'p'];
  return Math.trunc(Number(m[1]) * mult);
}

/** Docker's `--since`/`--until`: a unix time, an RFC 3339 date or a duration (`10m`, `1h30m`) before now. */
export function parseTimestamp(value: string, now = Date.now()): string {
  if (/^\d+(\.\d+)?$/.test(value)) return value;
  const dur = /^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?!s))?(?:(\d+(?:\.\d+)?)s)?(?:(\d+)ms)?$/.exec(value);
  if (dur && value !== '') {
    const ms = Number(dur[1] ?? 0) * 3_600_000 + Number(dur[2] ?? 0) * 60_000 + Number(dur[3] ?? 0) * 1000 + Number(dur[4] ?? 0);
    return ((now - ms) / 1000).toFixed(9);
  }
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw new InvalidArgumentError(`invalid value for time: ${value}`);
  return (t / 1000).toFixed(9);
}
