import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** For each generated line of a bundle, the source file of its first mapping (or undefined). */
async function sourceOfLines(mapPath: string): Promise<(string | undefined)[]> {
  const map = JSON.parse(await readFile(mapPath, 'utf8')) as { sources: string[]; mappings: string };
  const lines = map.mappings.split(';');
  const out: (string | undefined)[] = [];
  let source = 0;
  for (const line of lines) {
    let first: number | undefined;
    for (const seg of line.split(',')) {
      if (seg === '') continue;
      // decode the VLQ fields; only the source index (field 2) matters here
      const fields: number[] = [];
      let value = 0;
      let shift = 0;
      for (const ch of seg) {
        const d = B64.indexOf(ch);
        value += (d & 31) << shift;
        if (d & 32) shift += 5;
        else {
          fields.push(value & 1 ? -(value >> 1) : value >> 1);
          value = 0;
          shift = 0;
        }
      }
      if (fields.length >= 2) {
        source += fields[1]!;
        first ??= source;
      }
    }
    out.push(first === undefined ? undefined : map.sources[first]);
  }
  return out;
}

/** `packages/engine/src/foo.ts` style name of a source path from a map. */
function shortSource(s: string): string {
  const m = s.match(/(packages|apps|tooling)\/.*$/);
  return m ? m[0] : basename(s);
}

/** Which part of the system a frame belongs to. */
function bucketOf(url: string, source: string | undefined): string {
  if (source) {
    const m = source.match(/(packages|apps)\/([^/]+)\//);
    if (m) return `${m[1]}/${m[2]}`;
  }
  const nm = url.match(/node_modules\/(?:\.pnpm\/[^/]+\/node_modules\/)?((?:@[^/]+\/)?[^/]+)/);
  if (nm) return `npm:${nm[1]}`;
  if (url.startsWith('node:') || url === '') return 'node internals / native';
  return basename(url);
}

export interface ProfileSummary {
  /** Wall time covered by the profile, ms. */
  wallMs: number;
  /** Sampled time not idle (JS, GC, native), ms. */
  busyMs: number;
  gcMs: number;
  topFunctions: { name: string; selfMs: number }[];
  allFunctions: { name: string; selfMs: number }[];
  byBucket: { bucket: string; selfMs: number }[];
}

/**
 * Self time per function and per package from a `node --cpu-prof` profile, optionally only
 * of samples inside `windows` (hrtime microseconds). Frames in a bundle with a `.map` next
 * to it are attributed to their source package.
 */
export async function summarizeCpuProfile(path: string, top = 15, windows?: readonly { fromUs: number; toUs: number }[]): Promise<ProfileSummary> {
  const profile = JSON.parse(await readFile(path, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  // sample timestamps are CLOCK_MONOTONIC microseconds, the clock of process.hrtime in any process
  let t = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    const delta = profile.timeDeltas[i] ?? 0;
    t += delta;
    if (windows && !windows.some((w) => t >= w.fromUs && t <= w.toUs)) continue;
    const id = profile.samples[i]!;
    self.set(id, (self.get(id) ?? 0) + delta);
  }
  const maps = new Map<string, (string | undefined)[] | undefined>();
  const sourceFor = async (url: string, line: number): Promise<string | undefined> => {
    if (!url.startsWith('file://')) return undefined;
    if (!maps.has(url)) {
      const mapPath = `${fileURLToPath(url)}.map`;
      maps.set(url, existsSync(mapPath) ? await sourceOfLines(mapPath).catch(() => undefined) : undefined);
    }
    const lines = maps.get(url);
    return lines?.[line];
  };
  const fn = new Map<string, number>();
  const bucket = new Map<string, number>();
  let idle = 0;
  let gc = 0;
  let total = 0;
  for (const [id, us] of self) {
    const node = byId.get(id);
    if (!node) continue;
    total += us;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') {
      idle += us;
      continue;
    }
    if (functionName === '(garbage collector)') gc += us;
    const source = await sourceFor(url, lineNumber);
    const where = source ? shortSource(source) : url ? basename(url) : '';
    const name = `${functionName || '(anonymous)'}${where ? ` ${where}` : ''}`;
    fn.set(name, (fn.get(name) ?? 0) + us);
    const b = functionName.startsWith('(') ? functionName : bucketOf(url, source);
    bucket.set(b, (bucket.get(b) ?? 0) + us);
  }
  const sorted = (m: Map<string, number>) => [...m.entries()].sort((a, b) => b[1] - a[1]);
  return {
    wallMs: windows ? windows.reduce((a, w) => a + (w.toUs - w.fromUs), 0) / 1000 : (profile.endTime - profile.startTime) / 1000,
    busyMs: (total - idle) / 1000,
    gcMs: gc / 1000,
    topFunctions: sorted(fn).slice(0, top).map(([name, us]) => ({ name, selfMs: us / 1000 })),
    allFunctions: sorted(fn).map(([name, us]) => ({ name, selfMs: us / 1000 })),
    byBucket: sorted(bucket).map(([b, us]) => ({ bucket: b, selfMs: us / 1000 })),
  };
}
