// dist/berth-ps.js: `berth ps` (and `container ls|ps|list`) without commander, node's http
// client or the rest of the CLI. The launcher (src/launcher.ts) runs it for such a command
// line; it answers the common case — flags it reads exactly as commander would, a daemon
// that answers — and hands anything else, before printing a byte, to the whole CLI
// (`fallback`), which then does what it always did: help, flag errors, starting berthd,
// the daemon's error messages. The request and the text are commands/ps-view.ts's, as the
// whole CLI's `ps` uses them, so both print the same bytes.
import { writeSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { API_VERSION, compareApiVersions, containerListQuery, encodeQuery, parseHost, type ContainerSummary } from '@berth/engine-api';
import { chooseHost } from '../client.js';
import { psListOptions, psOutput, type PsFlags } from '../commands/ps-view.js';
import { BERTH_VERSION } from '../version.js';
import { pipeBindings, pipeExchange } from './pipe.js';

/** `ps`'s short options: those that take a value, and the flags. */
const SHORT_VALUE: Record<string, 'filter' | 'last'> = { f: 'filter', n: 'last' };
const SHORT_FLAG: Record<string, 'all' | 'quiet' | 'size'> = { a: 'all', q: 'quiet', s: 'size' };
const LONG_VALUE: Record<string, 'filter' | 'format' | 'last'> = { '--filter': 'filter', '--format': 'format', '--last': 'last' };
const LONG_FLAG: Record<string, 'all' | 'quiet' | 'size' | 'latest'> = { '--all': 'all', '--quiet': 'quiet', '--size': 'size', '--latest': 'latest' };

/**
 * The flags of a `ps` command line, read as commander reads them (program/containers.ts
 * declares them), or undefined for any line this path does not answer: another command,
 * global options, --help, an unknown option, an operand, a missing value.
 */
export function parsePsArgv(argv: readonly string[]): PsFlags | undefined {
  let i: number;
  if (argv[0] === 'ps') i = 1;
  else if (argv[0] === 'container' && (argv[1] === 'ls' || argv[1] === 'ps' || argv[1] === 'list')) i = 2;
  else return undefined;
  const flags: PsFlags = { filter: [] };
  const setValue = (key: 'filter' | 'format' | 'last', value: string): void => {
    if (key === 'filter') flags.filter.push(value);
    else flags[key] = value;
  };
  for (; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq > 0 ? arg.slice(0, eq) : arg;
      const valueKey = LONG_VALUE[name];
      if (valueKey) {
        // commander takes the next word as the value, whatever it looks like
        const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
        if (value === undefined) return undefined;
        setValue(valueKey, value);
      } else if (eq < 0 && LONG_FLAG[name]) {
        flags[LONG_FLAG[name]] = true;
      } else if (arg === '--no-trunc') {
        flags.trunc = false;
      } else {
        return undefined;
      }
      continue;
    }
    if (!arg.startsWith('-') || arg.length < 2) return undefined;
    // a cluster: flags, then at most one option that takes the rest (or the next word)
    for (let j = 1; j < arg.length; j++) {
      const c = arg[j]!;
      const flag = SHORT_FLAG[c];
      if (flag) {
        flags[flag] = true;
        continue;
      }
      const valueKey = SHORT_VALUE[c];
      if (!valueKey) return undefined;
      const value = j + 1 < arg.length ? arg.slice(j + 1) : argv[++i];
      if (value === undefined) return undefined;
      setValue(valueKey, value);
      break;
    }
  }
  return flags;
}

/**
 * Runs `ps` for `argv` (the command line after `berth`), or calls `fallback` — at once, or
 * after a failed request, never after output — for the whole CLI to answer.
 */
export function runPs(argv: readonly string[], fallback: () => void): void {
  let flags: PsFlags | undefined;
  let answer: Promise<Buffer> | undefined;
  try {
    flags = parsePsArgv(argv);
    if (flags) {
      const target = parseHost(chooseHost(undefined).host);
      const path = `/v${API_VERSION}/containers/json${encodeQuery(containerListQuery(psListOptions(flags)))}`;
      const request = `GET ${path} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: Berth-Client/${BERTH_VERSION}\r\n\r\n`;
      const pipe = 'socketPath' in target ? pipeBindings() : undefined;
      if (pipe && 'socketPath' in target) answer = pipeExchange(pipe, target.socketPath, request, completeBody);
      else answer = netExchange('socketPath' in target ? netConnect({ path: target.socketPath }) : netConnect({ host: target.hostname, port: target.port }), request);
    }
  } catch {
    // a bad filter, an odd host: the whole CLI says what is wrong
    flags = undefined;
  }
  if (!flags || !answer) {
    fallback();
    return;
  }
  const psFlags = flags;
  answer.then(parsed).then(
    (list) => {
      let text: string;
      try {
        text = psOutput(list, psFlags);
      } catch {
        fallback();
        return;
      }
      // written in full: nothing is left to wait for but an open connection
      if (writeOut(text)) process.exit();
    },
    () => fallback(),
  );
}

/**
 * `request` on `socket` (TCP hosts, or a node without the pipe bindings src/fast/pipe.ts
 * uses); resolves with the body completeBody finds. The connection stays open (kept
 * alive, unreferenced) after an answer: closing a socket makes node create
 * process.stderr (net.js's _destroy compares the socket with it), which is a tty or pipe
 * stream to build; the process exits instead.
 */
function netExchange(socket: Socket, request: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const finish = (result: Buffer | Error): void => {
      if (settled) return;
      settled = true;
      if (result instanceof Error) {
        socket.destroy();
        reject(result);
        return;
      }
      socket.removeAllListeners('data');
      socket.removeAllListeners('end');
      socket.unref();
      resolve(result);
    };
    socket.on('error', (err) => finish(err));
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      const body = completeBody(Buffer.concat(chunks, size), false);
      if (body) finish(body);
    });
    socket.on('end', () => finish(completeBody(Buffer.concat(chunks, size), true) ?? new Error('no response')));
    socket.write(request);
  });
}

/** The daemon's list; throws for anything else (the whole CLI then answers). */
function parsed(body: Buffer): ContainerSummary[] {
  const list = JSON.parse(body.toString('utf8')) as unknown;
  if (!Array.isArray(list)) throw new Error('not a list');
  return list as ContainerSummary[];
}

/**
 * The body of a complete HTTP/1.1 response in `buf`; undefined while more is to come; an
 * Error for any answer this path leaves to the whole CLI (not a 200, another API version,
 * a framing it does not read). `ended`: the daemon closed the connection.
 */
export function completeBody(buf: Buffer, ended: boolean): Buffer | Error | undefined {
  const headEnd = buf.indexOf('\r\n\r\n');
  if (headEnd < 0) return ended ? new Error('no response') : undefined;
  const lines = buf.toString('latin1', 0, headEnd).split('\r\n');
  if (!/^HTTP\/1\.[01] 200 /.test(`${lines[0]} `)) return new Error(lines[0]);
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  const version = headers.get('api-version');
  if (!version || compareApiVersions(version, API_VERSION) < 0) return new Error(`API version ${version ?? 'unknown'}`);
  const rest = buf.subarray(headEnd + 4);
  const encoding = headers.get('transfer-encoding');
  if (encoding !== undefined) return encoding.toLowerCase() === 'chunked' ? dechunk(rest, ended) : new Error(`transfer-encoding ${encoding}`);
  const length = headers.get('content-length');
  if (length === undefined) return ended ? rest : undefined;
  if (!/^\d+$/.test(length)) return new Error(`content-length ${length}`);
  const n = Number(length);
  if (rest.length >= n) return rest.subarray(0, n);
  return ended ? new Error('short body') : undefined;
}

/** A chunked body, once its last chunk is in. */
function dechunk(buf: Buffer, ended: boolean): Buffer | Error | undefined {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const lineEnd = buf.indexOf('\r\n', at);
    if (lineEnd < 0) break;
    const size = Number.parseInt(buf.toString('latin1', at, lineEnd).split(';')[0]!, 16);
    if (!Number.isInteger(size) || size < 0) return new Error('bad chunk');
    if (size === 0) return Buffer.concat(parts);
    const start = lineEnd + 2;
    if (buf.length < start + size + 2) break;
    parts.push(buf.subarray(start, start + size));
    at = start + size + 2;
  }
  return ended ? new Error('short body') : undefined;
}

/**
 * Straight to fd 1, as the launcher's --version: process.stdout would load node's tty or
 * stream modules first. A full non-blocking pipe hands the rest to process.stdout.
 */
function writeOut(text: string): boolean {
  const buf = Buffer.from(text, 'utf8');
  let at = 0;
  try {
    while (at < buf.length) at += writeSync(1, buf, at);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // a reader that went away: quiet, as src/main.ts ends then
    if (code === 'EPIPE') process.exit(141);
    if (code !== 'EAGAIN') {
      process.stderr.write(`${(err as Error).message}\n`);
      process.exit(1);
    }
    process.stdout.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EPIPE') process.stderr.write(`${e.message}\n`);
      process.exit(e.code === 'EPIPE' ? 141 : 1);
    });
    process.stdout.write(buf.subarray(at));
    return false;
  }
}
