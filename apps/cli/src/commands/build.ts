import { randomBytes } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { Readable } from 'node:stream';
import { InvalidArgumentError } from '@berth/image-format';
import type { JsonMessage } from '@berth/engine-api';
import type { Context } from '../context.js';
import { displayJsonMessages } from '../format/progress.js';
import { BuildProgress } from '../format/build-progress.js';
import { allAuths } from './auth-store.js';
import { contextEntries, packContext } from './build-context.js';

interface BuildFlags {
  tag: string[];
  file?: string;
  buildArg: string[];
  label: string[];
  noCache?: boolean;
  cache?: boolean;
  quiet?: boolean;
  target?: string;
  network?: string;
  pull?: boolean;
  rm?: boolean;
  forceRm?: boolean;
  iidfile?: string;
  /** `--no-cache-filter` (commander reads `--no-` options under the rest of the name). */
  cacheFilter?: string[];
  cacheFrom?: string[];
  platform?: string;
  secret?: string[];
  progress?: string;
}

const PROGRESS = ['auto', 'plain', 'tty', 'quiet'];

/** `berth build [OPTIONS] PATH | -`: docker's classic build (context tar, JSON stream). */
export async function build(ctx: Context, path: string, flags: BuildFlags): Promise<number> {
  const buildArgs: Record<string, string | null> = {};
  for (const a of flags.buildArg) {
    const i = a.indexOf('=');
    if (i < 0) buildArgs[a] = process.env[a] ?? null;
    else buildArgs[a.slice(0, i)] = a.slice(i + 1);
  }
  const labels: Record<string, string> = {};
  for (const l of flags.label) {
    const i = l.indexOf('=');
    labels[i < 0 ? l : l.slice(0, i)] = i < 0 ? '' : l.slice(i + 1);
  }
  if (flags.progress !== undefined && !PROGRESS.includes(flags.progress)) throw new InvalidArgumentError(`invalid progress mode ${flags.progress}: use one of ${PROGRESS.join(', ')}`);
  const quiet = flags.quiet === true || flags.progress === 'quiet';
  const secrets = await readSecrets(flags.secret ?? []);
  const { body, dockerfile, size } = await makeContext(ctx, path, flags.file);
  const client = await ctx.client();
  const registryConfig = await allAuths();
  // --progress: BuildKit's display, on stderr as docker buildx draws it
  const mode = quiet || flags.progress === undefined ? undefined : flags.progress === 'auto' ? (ctx.stderrIsTTY ? 'tty' : 'plain') : (flags.progress as 'plain' | 'tty');
  const progress = mode ? new BuildProgress({ write: (t: string) => ctx.err(t) }, mode, (ctx.io.stderr as NodeJS.WriteStream).columns ?? 80) : undefined;
  if (progress) progress.context(size);
  else if (!quiet && size !== undefined) ctx.out(`Sending build context to Berth daemon  ${humanContextSize(size)}\n`);
  let id = '';
  const messages = client.imageBuild(body, {
    tags: flags.tag,
    ...(dockerfile ? { dockerfile } : {}),
    ...(Object.keys(buildArgs).length ? { buildArgs } : {}),
    ...(Object.keys(labels).length ? { labels } : {}),
    ...(flags.target ? { target: flags.target } : {}),
    ...(flags.network ? { networkMode: flags.network } : {}),
    noCache: flags.noCache === true || flags.cache === false,
    rm: flags.rm !== false,
    forceRm: flags.forceRm === true,
    quiet,
    pull: flags.pull === true,
    ...(flags.cacheFilter?.length ? { noCacheFilter: flags.cacheFilter } : {}),
    ...(flags.cacheFrom?.length ? { cacheFrom: flags.cacheFrom } : {}),
    ...(flags.platform ? { platform: flags.platform } : {}),
    ...(Object.keys(secrets).length ? { secrets } : {}),
    ...(Object.keys(registryConfig).length ? { registryConfig } : {}),
  });
  let failure: { message: string; code: number } | undefined;
  async function* shown(): AsyncGenerator<JsonMessage> {
    for await (const m of messages) {
      if (m.error || m.errorDetail?.message) {
        failure = { message: m.errorDetail?.message ?? m.error ?? 'unknown error', code: m.errorDetail?.code || 1 };
        return;
      }
      if (quiet && !m.aux) {
        // a quiet build's answer is the ID as a stream line (Docker sends no aux then)
        const line = m.stream?.trim();
        if (line && /^sha256:[0-9a-f]{64}$/.test(line)) id = line;
        continue;
      }
      yield m;
    }
  }
  if (progress) {
    for await (const m of shown()) {
      if (m.aux && typeof m.aux['ID'] === 'string') id = m.aux['ID'];
      progress.message(m);
    }
    if (failure) progress.fail(failure.message);
    else progress.done(id);
  } else await displayJsonMessages(shown(), ctx.io.stdout, {
    isTerminal: ctx.stdoutIsTTY,
    columns: ctx.columns,
    onAux: (aux) => {
      if (typeof aux['ID'] === 'string') id = aux['ID'];
    },
  });
  // A failed step: docker prints the bare message and exits with the step's code (else 1).
  if (failure) {
    ctx.err(`${failure.message}\n`);
    return failure.code;
  }
  if (flags.iidfile) await writeFile(flags.iidfile, id);
  if (quiet) ctx.out(`${id}\n`);
  return 0;
}

/**
 * `--secret id=NAME[,src=FILE|,env=VAR]` (buildx's forms; `type=file|env` too): the values,
 * read here and sent with the build, never written anywhere by Berth.
 */
async function readSecrets(specs: string[]): Promise<Record<string, Buffer>> {
  const out: Record<string, Buffer> = {};
  for (const spec of specs) {
    const f: Record<string, string> = {};
    for (const part of spec.split(',')) {
      const i = part.indexOf('=');
      if (i < 0) throw new InvalidArgumentError(`invalid secret ${spec}: expected key=value fields`);
      f[part.slice(0, i).trim().toLowerCase()] = part.slice(i + 1);
    }
    const id = f['id'];
    if (!id) throw new InvalidArgumentError(`invalid secret ${spec}: id is required`);
    const src = f['src'] ?? f['source'];
    if (src !== undefined && f['type'] !== 'env') {
      out[id] = await readFile(src);
      continue;
    }
    const name = f['env'] ?? src ?? id;
    const value = process.env[name];
    if (value === undefined) throw new InvalidArgumentError(`secret ${id}: environment variable ${name} is not set (or give src=FILE)`);
    out[id] = Buffer.from(value);
  }
  return out;
}

/** The context tar and the Dockerfile's path inside it. */
async function makeContext(ctx: Context, path: string, file: string | undefined): Promise<{ body: Readable; dockerfile?: string; size?: number }> {
  if (path === '-') {
    if (file) throw new InvalidArgumentError('-f cannot be used with a context from stdin');
    // Peek without a for-await `break`, which would destroy stdin.
    const it = (ctx.io.stdin as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
    let head = Buffer.alloc(0);
    let ended = false;
    while (head.length < 512) {
      const r = await it.next();
      if (r.done) {
        ended = true;
        break;
      }
      head = Buffer.concat([head, Buffer.from(r.value)]);
    }
    const all = async function* (): AsyncGenerator<Buffer> {
      yield head;
      while (!ended) {
        const r = await it.next();
        if (r.done) return;
        yield Buffer.from(r.value);
      }
    };
    const isTar = (head[0] === 0x1f && head[1] === 0x8b) || head.subarray(257, 262).toString('latin1') === 'ustar';
    if (isTar) return { body: Readable.from(all()) };
    // A Dockerfile on stdin: a context of that one file.
    const data = await readAll(all());
    return { body: packContext('/', [], [{ name: 'Dockerfile', data }]), size: data.length };
  }
  const dir = resolve(path);
  const st = await stat(dir).catch(() => undefined);
  if (!st?.isDirectory()) throw new InvalidArgumentError(`unable to prepare context: path "${path}" not found`);
  let dockerfile: string | undefined;
  let extra: { name: string; data: Buffer }[] = [];
  let keep = ['Dockerfile', '.dockerignore'];
  if (file) {
    const abs = file === '-' ? undefined : isAbsolute(file) ? file : resolve(file);
    const rel = abs ? relative(dir, abs) : '..';
    if (abs && !rel.startsWith('..') && !isAbsolute(rel)) {
      dockerfile = rel.split(sep).join('/');
      keep = [dockerfile, '.dockerignore'];
    } else {
      // Outside the context (or stdin): sent inside the tar under a name nobody uses, as docker does.
      const data = abs ? await readFile(abs) : await readAll(ctx.io.stdin as AsyncIterable<Buffer>);
      dockerfile = `.dockerfile.${randomBytes(10).toString('hex')}`;
      extra = [{ name: dockerfile, data }];
    }
  }
  const entries = await contextEntries(dir, keep);
  let size = extra.reduce((a, e) => a + e.data.length, 0);
  for (const e of entries) size += (await stat(resolve(dir, e)).catch(() => ({ size: 0 }))).size;
  return { body: packContext(dir, entries, extra), ...(dockerfile ? { dockerfile } : {}), size };
}

async function readAll(s: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c);
  return Buffer.concat(chunks);
}

/** As docker prints the context size: `2.048kB`. */
function humanContextSize(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${Number(v.toPrecision(4))}${units[i]}`;
}
