import { createHash, type Hash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, utimes } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { dirname, join, posix } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { InvalidArgumentError } from '@berth/image-format';

/** An `ADD <url>` source, downloaded into the build's scratch directory. */
export interface RemoteFile {
  url: string;
  /** The name the URL's path gives ('' when it ends with `/`: only a file destination can name it then). */
  name: string;
  /** The downloaded bytes (mode 0600, as Docker writes remote files). */
  hostPath: string;
  /** Last-Modified, or 1970 when the server sends none (Docker's zero time). */
  mtime: Date;
}

export interface FetchOptions {
  /** `--checksum=<algo>:<hex>`: the download must hash to it. */
  checksum?: string;
  /** How long to wait for the response, or for the next bytes of the body. */
  timeoutMs: number;
  signal?: AbortSignal;
}

/** As Go's http.Client (dockerd and BuildKit): the 10th redirect is refused. */
const MAX_REDIRECTS = 10;
/** How much of an error response's body the message quotes. */
const ERROR_BODY_LIMIT = 4096;

/**
 * The file name a URL gives: its path's last segment, decoded (as Go's url.Path), '' when
 * the path ends with `/`. A decoded `/` splits again and only the last part is kept; `..`,
 * `.` and NUL give no name.
 */
export function remoteFileName(url: URL): string {
  if (url.pathname.endsWith('/')) return '';
  const last = posix.basename(url.pathname);
  let decoded: string;
  try {
    decoded = decodeURIComponent(last);
  } catch {
    decoded = last;
  }
  const name = posix.basename(decoded);
  return name === '.' || name === '..' || name.includes('\0') ? '' : name;
}

/**
 * Downloads `source` as dockerd's builder does: GET, following at most 10 redirects, a
 * status of 400 or more is an error quoting the body; the body streams into a new file under
 * `dir` (never held in memory) and gets Last-Modified as its time.
 * Unlike dockerd, a server that stops answering fails the step after `timeoutMs`.
 */
export async function fetchRemote(source: string, dir: string, opts: FetchOptions): Promise<RemoteFile> {
  const url = new URL(source);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new InvalidArgumentError(`unsupported URL scheme in ${source}: only http and https are fetched`);
  const name = remoteFileName(url);
  const want = opts.checksum ? parseChecksum(opts.checksum) : undefined;
  const res = await get(url, opts);
  const into = await mkdtemp(join(dir, 'remote-'));
  // The file's name on disk is never the URL's (which may be anything, `..` included).
  const hostPath = join(into, 'download');
  // hashed as it flows for --checksum (the step's cache key reads the file later)
  const hash: Hash | undefined = want ? createHash(want.algo) : undefined;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash?.update(chunk);
      cb(null, chunk);
    },
  });
  res.setTimeout(opts.timeoutMs, () => res.destroy(timeoutError(url, opts.timeoutMs, 'the rest of the body')));
  try {
    await pipeline(res, tap, createWriteStream(hostPath, { mode: 0o600, flags: 'wx' }), opts.signal ? { signal: opts.signal } : {});
  } catch (err) {
    throw wrap(url, err);
  }
  if (!res.complete) throw new InvalidArgumentError(`Get "${url.href}": unexpected EOF`);
  if (want && hash) {
    const got = `${want.algo}:${hash.digest('hex')}`;
    // BuildKit's words for a pinned download that changed
    if (got !== want.text) throw new InvalidArgumentError(`failed to verify ${url.href}: digest mismatch ${got}: ${want.text}`);
  }
  const lastModified = res.headers['last-modified'];
  const parsed = lastModified ? Date.parse(lastModified) : NaN;
  const mtime = new Date(Number.isNaN(parsed) ? 0 : parsed);
  await utimes(hostPath, mtime, mtime);
  return { url: source, name, hostPath, mtime };
}

/** `sha256:<hex>` (or sha384/sha512), as BuildKit's --checksum takes it. */
function parseChecksum(text: string): { algo: 'sha256' | 'sha384' | 'sha512'; text: string } {
  const m = /^(sha256|sha384|sha512):([0-9a-f]+)$/.exec(text);
  const len = { sha256: 64, sha384: 96, sha512: 128 };
  if (!m || m[2]!.length !== len[m[1] as keyof typeof len]) throw new InvalidArgumentError(`invalid checksum digest format: ${text}`);
  return { algo: m[1] as 'sha256' | 'sha384' | 'sha512', text };
}

/** The final response (redirects followed), status checked. */
async function get(first: URL, opts: FetchOptions): Promise<http.IncomingMessage> {
  let url = first;
  for (let requests = 1; ; requests++) {
    const res = await request(url, opts);
    const status = res.statusCode ?? 0;
    const location = res.headers.location;
    if ([301, 302, 303, 307, 308].includes(status) && location) {
      res.resume();
      const next = new URL(location, url);
      // Go's client names the request it refused to make
      if (requests >= MAX_REDIRECTS) throw new InvalidArgumentError(`Get "${next.href}": stopped after ${MAX_REDIRECTS} redirects`);
      if (next.protocol !== 'http:' && next.protocol !== 'https:') throw new InvalidArgumentError(`Get "${next.href}": unsupported protocol scheme "${next.protocol.slice(0, -1)}"`);
      url = next;
      continue;
    }
    if (status < 400) return res;
    const body = await readSome(res, ERROR_BODY_LIMIT).catch(() => '');
    // dockerd's words (remotecontext.GetWithStatusError)
    throw new InvalidArgumentError(`failed to GET ${first.href} with status ${status} ${res.statusMessage ?? ''}: ${body.trim()}`);
  }
}

function request(url: URL, opts: FetchOptions): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const mod = url.protocol === 'https:' ? https : http;
    let answered = false;
    const req = mod.get(url, { headers: { 'user-agent': 'berth-builder' }, ...(opts.signal ? { signal: opts.signal } : {}) }, (res) => {
      answered = true;
      resolve(res);
    });
    // Once answered, the body's own timeout (same socket) speaks instead
    req.setTimeout(opts.timeoutMs, () => answered || req.destroy(timeoutError(url, opts.timeoutMs, 'a response')));
    req.on('error', (err) => reject(wrap(url, err)));
  });
}

async function readSome(res: http.IncomingMessage, limit: number): Promise<string> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const chunk of res) {
    if (n < limit) parts.push((chunk as Buffer).subarray(0, limit - n));
    n += (chunk as Buffer).length;
    if (n >= limit) {
      res.destroy();
      break;
    }
  }
  return Buffer.concat(parts).toString('utf8');
}

function timeoutError(url: URL, ms: number, what: string): Error {
  return new InvalidArgumentError(`Get "${url.href}": timed out after ${ms / 1000}s waiting for ${what}`);
}

/** Go's url.Error shape (`Get "<url>": <cause>`), which dockerd shows for network failures. */
function wrap(url: URL, err: unknown): Error {
  if (err instanceof InvalidArgumentError) return err;
  const e = err as NodeJS.ErrnoException;
  if (e.name === 'AbortError') return e;
  return new InvalidArgumentError(`Get "${url.href}": ${e.message}`);
}

/**
 * Every URL of one ADD, downloaded in order; `release` removes the files once the layer is
 * written. As dockerd's builder, URLs are fetched at every build, the step's cache keyed by
 * their content.
 */
export async function fetchAll(urls: string[], dir: string, opts: FetchOptions): Promise<{ files: RemoteFile[]; release(): Promise<void> }> {
  const files: RemoteFile[] = [];
  const release = async (): Promise<void> => {
    for (const f of files) await rm(dirname(f.hostPath), { recursive: true, force: true });
  };
  try {
    for (const u of urls) files.push(await fetchRemote(u, dir, opts));
  } catch (err) {
    await release();
    // as dockerd's builder words a failed source
    throw err instanceof InvalidArgumentError ? new InvalidArgumentError(`ADD failed: ${err.message}`) : err;
  }
  return { files, release };
}
