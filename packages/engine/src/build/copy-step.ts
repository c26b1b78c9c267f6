import { mkdtemp, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidArgumentError, UnsupportedError } from '@berth/image-format';
import type { Instruction } from './dockerfile.js';
import { parseHeredocWord } from './heredoc.js';
import type { WordExpander } from './words.js';

/** A COPY/ADD's sources and destination as written, heredocs made into files, and its options. */
export interface CopyArgs {
  sources: string[];
  dest: string;
  /** A directory holding the heredoc sources (by their delimiter names), to be looked up before the context. */
  heredocDir?: string;
  /** ADD's http(s) sources (not in `sources`), fetched by the daemon at each build. */
  urls: string[];
  /** ADD `--checksum`, expanded: what every URL's download must hash to. */
  checksum?: string;
  chmod?: number;
  link: boolean;
  parents: boolean;
  exclude: string[];
  /** The flags as the cache key and history show them. */
  flagText: string;
}

const URL_SOURCE = /^(https?|ftp):\/\/|^git@/i;
const HTTP_SOURCE = /^https?:\/\//i;

export async function copyArgs(ins: Instruction, ex: WordExpander, tmpDir: string, fromFlag: string | undefined): Promise<CopyArgs> {
  const words = ins.json ? ins.args.map((a) => ex.word(a)) : ex.words(ins.args[0]!);
  const dest = words.pop()!;
  let heredocDir: string | undefined;
  const docs = ins.heredocs ?? [];
  let n = 0;
  const sources: string[] = [];
  for (const w of words) {
    const h = !ins.json && docs.length > n ? parseHeredocWord(w) : undefined;
    if (!h) {
      sources.push(w);
      continue;
    }
    const doc = docs[n++]!;
    heredocDir ??= await mkdtemp(join(tmpDir, 'heredoc-'));
    await writeFile(join(heredocDir, doc.name), doc.expand ? ex.raw(doc.data) : doc.data, { mode: 0o644 });
    sources.push(doc.name);
  }
  if (heredocDir && fromFlag !== undefined) throw new InvalidArgumentError(`${ins.cmd} --from cannot be used with a heredoc source`);
  const urls = sources.filter((x) => URL_SOURCE.test(x));
  if (urls.length && ins.cmd === 'COPY') throw new InvalidArgumentError('source can\'t be a URL for COPY');
  const other = urls.find((x) => !HTTP_SOURCE.test(x));
  if (other) throw new UnsupportedError(`ADD failed: ${other}: only http(s) URLs are fetched by Berth's builder (git and ftp sources are not): add the files to the build context instead`);
  const local = sources.filter((x) => !URL_SOURCE.test(x));
  const checksum = ins.flags['checksum'] !== undefined ? ex.word(ins.flags['checksum']) : undefined;
  if (checksum !== undefined && (local.length > 0 || urls.length === 0)) {
    // BuildKit's rule: a checksum pins a download; a local source has none to verify
    throw new InvalidArgumentError("checksum can't be specified for non-HTTP(S) sources");
  }
  let chmod: number | undefined;
  if (ins.flags['chmod']) {
    const mode = ex.word(ins.flags['chmod']);
    if (!/^[0-7]{3,4}$/.test(mode)) throw new InvalidArgumentError(`invalid chmod parameter: ${mode}`);
    chmod = parseInt(mode, 8);
  }
  const exclude = (ins.flagLists?.['exclude'] ?? []).map((p) => ex.word(p));
  const flagText = Object.entries(ins.flags)
    .filter(([k]) => k !== 'exclude')
    .map(([k, v]) => `--${k}=${k === 'from' ? fromFlag : v} `)
    .join('') + exclude.map((p) => `--exclude=${p} `).join('');
  return {
    sources: local,
    urls,
    ...(checksum !== undefined ? { checksum } : {}),
    dest,
    ...(heredocDir ? { heredocDir } : {}),
    ...(chmod !== undefined ? { chmod } : {}),
    link: ins.flags['link'] === 'true',
    parents: ins.flags['parents'] === 'true',
    exclude,
    flagText,
  };
}
