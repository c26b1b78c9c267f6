// Image commands: pull, push, images, tag, rmi, save, load, import, history, prune.
import { createReadStream, createWriteStream } from 'node:fs';
import { Readable, type Writable } from 'node:stream';
import type { EngineClient } from '@berth/engine-api';
import { InvalidArgumentError, normalizeReference, parseReference } from '@berth/image-format';
import type { Context } from '../context.js';
import { IMAGE_DEFAULT, IMAGE_DEFAULT_DIGESTS, IMAGE_HEADERS, imageRows, truncateId } from '../format/contexts.js';
import { displayJsonMessages } from '../format/progress.js';
import { renderRows } from '../format/render.js';
import { goTimeString, humanSize, timeAgo } from '../format/units.js';
import { authFor } from './auth-store.js';
import { pipeTo } from './containers.js';
import { parseFilters } from './filters.js';

/** Pulls with docker's progress display on stdout (`pull`) or stderr (implicit pull of `run`). */
export async function pullImage(
  ctx: Context,
  client: EngineClient,
  image: string,
  opts: { out: 'stdout' | 'stderr'; platform?: string | undefined; quiet?: boolean; allTags?: boolean },
): Promise<string> {
  const ref = opts.allTags ? parseReference(image) : normalizeReference(image);
  const auth = await authFor(ref.domain);
  const stream = opts.out === 'stdout' ? ctx.io.stdout : ctx.io.stderr;
  const isTerminal = Boolean((stream as NodeJS.WriteStream).isTTY);
  const messages = client.imagePull(ref.familiarName(), {
    // No tag at all asks the daemon for every tag (pull -a).
    ...(ref.digest ? { tag: ref.digest } : opts.allTags ? {} : { tag: ref.tag ?? 'latest' }),
    ...(opts.platform ? { platform: opts.platform } : {}),
    ...(auth ? { auth } : {}),
  });
  if (opts.quiet) {
    for await (const _ of messages) {
      // drain
    }
  } else {
    await displayJsonMessages(messages, stream, { isTerminal, columns: (stream as NodeJS.WriteStream).columns ?? 80 });
  }
  return ref.toString();
}

export async function pull(ctx: Context, image: string, flags: { quiet?: boolean; platform?: string; allTags?: boolean }): Promise<number> {
  const client = await ctx.client();
  const parsed = parseReference(image);
  if (flags.allTags && (parsed.tag !== undefined || parsed.digest !== undefined)) throw new InvalidArgumentError('tag can\'t be used with --all-tags/-a');
  if (!flags.quiet && !flags.allTags && parsed.tag === undefined && parsed.digest === undefined) ctx.out('Using default tag: latest\n');
  const full = await pullImage(ctx, client, image, { out: 'stdout', platform: flags.platform, quiet: Boolean(flags.quiet), allTags: Boolean(flags.allTags) });
  ctx.out(`${full}\n`);
  return 0;
}

export async function push(ctx: Context, image: string, flags: { quiet?: boolean; allTags?: boolean; platform?: string }): Promise<number> {
  const client = await ctx.client();
  const ref = parseReference(image);
  if (ref.tag === undefined && !flags.allTags && !ref.digest) ctx.out('Using default tag: latest\n');
  const auth = await authFor(ref.domain);
  const messages = client.imagePush(ref.familiarName(), {
    ...(flags.allTags ? {} : { tag: ref.tag ?? 'latest' }),
    ...(flags.platform ? { platform: flags.platform } : {}),
    ...(auth ? { auth } : {}),
  });
  if (flags.quiet) {
    for await (const _ of messages) {
      // drain
    }
    ctx.out(`${normalizeReference(image).toString()}\n`);
    return 0;
  }
  await displayJsonMessages(messages, ctx.io.stdout, { isTerminal: ctx.stdoutIsTTY, columns: ctx.columns });
  return 0;
}

export async function images(
  ctx: Context,
  repository: string | undefined,
  flags: { all?: boolean; quiet?: boolean; filter: string[]; format?: string; trunc?: boolean; digests?: boolean },
): Promise<number> {
  const client = await ctx.client();
  const filters = parseFilters(flags.filter);
  if (repository) (filters['reference'] ??= []).push(repository);
  const list = await client.imageList({ all: Boolean(flags.all), filters });
  const trunc = flags.trunc !== false;
  const rows = imageRows(list, { trunc, digests: Boolean(flags.digests) });
  const format = flags.quiet && !flags.format ? '{{.ID}}' : flags.format;
  ctx.out(renderRows(rows, { format, defaultFormat: flags.digests ? IMAGE_DEFAULT_DIGESTS : IMAGE_DEFAULT, headers: IMAGE_HEADERS }));
  return 0;
}

export async function tag(ctx: Context, source: string, target: string): Promise<number> {
  const client = await ctx.client();
  const ref = normalizeReference(target);
  if (ref.digest) throw new InvalidArgumentError('refusing to create a tag with a digest reference');
  await client.imageTag(source, ref.familiarName(), ref.tag ?? 'latest');
  return 0;
}

export async function rmi(ctx: Context, names: string[], flags: { force?: boolean; prune?: boolean }): Promise<number> {
  const client = await ctx.client();
  let failed = false;
  for (const name of names) {
    try {
      const items = await client.imageRemove(name, { force: Boolean(flags.force), noprune: flags.prune === false });
      for (const item of items ?? []) {
        if (item.Untagged) ctx.out(`Untagged: ${item.Untagged}\n`);
        if (item.Deleted) ctx.out(`Deleted: ${item.Deleted}\n`);
      }
    } catch (err) {
      failed = true;
      ctx.err(`Error response from daemon: ${(err as Error).message}\n`);
    }
  }
  return failed ? 1 : 0;
}

export async function save(ctx: Context, names: string[], flags: { output?: string; platform?: string }): Promise<number> {
  const client = await ctx.client();
  if (!flags.output && ctx.stdoutIsTTY) throw new InvalidArgumentError('cowardly refusing to save to a terminal. Use the -o flag or redirect');
  const tar = await client.imageSave(names, flags.platform ? { platform: flags.platform } : {});
  await pipeTo(tar, flags.output ? createWriteStream(flags.output) : (ctx.io.stdout as unknown as Writable), Boolean(flags.output));
  return 0;
}

export async function load(ctx: Context, flags: { input?: string; quiet?: boolean }): Promise<number> {
  const client = await ctx.client();
  if (!flags.input && (ctx.io.stdin as NodeJS.ReadStream).isTTY) {
    throw new InvalidArgumentError('requested load from stdin, but stdin is empty');
  }
  const source = flags.input ? createReadStream(flags.input) : Readable.from(ctx.io.stdin as AsyncIterable<Buffer>);
  const messages = client.imageLoad(source, { quiet: Boolean(flags.quiet) || !ctx.stdoutIsTTY });
  await displayJsonMessages(messages, ctx.io.stdout, { isTerminal: ctx.stdoutIsTTY, columns: ctx.columns });
  return 0;
}

export async function importImage(
  ctx: Context,
  file: string,
  reference: string | undefined,
  flags: { change: string[]; message?: string; platform?: string },
): Promise<number> {
  const client = await ctx.client();
  let repo: string | undefined;
  let tagName: string | undefined;
  if (reference) {
    const r = normalizeReference(reference);
    repo = r.familiarName();
    tagName = r.tag;
  }
  const source = file === '-' ? Readable.from(ctx.io.stdin as AsyncIterable<Buffer>) : createReadStream(file);
  let id = '';
  for await (const msg of client.imageImport(source, {
    ...(repo ? { repo } : {}),
    ...(tagName ? { tag: tagName } : {}),
    ...(flags.message ? { message: flags.message } : {}),
    changes: flags.change,
    ...(flags.platform ? { platform: flags.platform } : {}),
  })) {
    if (msg.status) id = msg.status;
  }
  ctx.out(`${id}\n`);
  return 0;
}

export async function history(ctx: Context, image: string, flags: { quiet?: boolean; trunc?: boolean; human?: boolean; format?: string }): Promise<number> {
  const client = await ctx.client();
  const items = await client.imageHistory(image);
  const trunc = flags.trunc !== false;
  const human = flags.human !== false;
  const rows = items.map((h) => ({
    ID: () => (h.Id === '<missing>' ? '<missing>' : trunc ? truncateId(h.Id) : h.Id),
    CreatedSince: () => (human ? timeAgo(h.Created) : new Date(h.Created * 1000).toISOString()),
    CreatedAt: () => goTimeString(new Date(h.Created * 1000)),
    CreatedBy: () => {
      const by = h.CreatedBy.replace(/\t/g, ' ');
      return trunc && [...by].length > 45 ? `${[...by].slice(0, 44).join('')}…` : by;
    },
    Size: () => (human ? humanSize(h.Size, 3) : String(h.Size)),
    Comment: () => h.Comment,
  }));
  const format = flags.quiet && !flags.format ? '{{.ID}}' : flags.format;
  ctx.out(
    renderRows(rows, {
      format,
      defaultFormat: 'table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}',
      headers: { ID: 'IMAGE', CreatedSince: 'CREATED', CreatedAt: 'CREATED AT', CreatedBy: 'CREATED BY', Size: 'SIZE', Comment: 'COMMENT' },
    }),
  );
  return 0;
}

export async function imagePrune(ctx: Context, flags: { all?: boolean; force?: boolean; filter: string[] }): Promise<number> {
  const client = await ctx.client();
  const filters = parseFilters(flags.filter);
  if (flags.all) filters['dangling'] = ['false'];
  const res = await client.imagePrune(filters);
  const deleted = res.ImagesDeleted ?? [];
  if (deleted.length > 0) {
    ctx.out('Deleted Images:\n');
    for (const d of deleted) ctx.out(d.Untagged ? `untagged: ${d.Untagged}\n` : `deleted: ${d.Deleted}\n`);
    ctx.out('\n');
  }
  ctx.out(`Total reclaimed space: ${humanSize(res.SpaceReclaimed)}\n`);
  return 0;
}

