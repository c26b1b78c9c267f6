import { spawn } from 'node:child_process';
import { BerthError } from '@berth/image-format';
import type { Credentials } from './store.js';

export interface HelperOptions {
  /** PATH to search for `docker-credential-<name>` (default: the process's PATH). */
  path?: string;
  /** Give up on a helper after this long (default 30 s). */
  timeoutMs?: number;
}

const NOT_FOUND = /credentials not found/i;

/**
 * Runs `docker-credential-<name> get` with the server URL on stdin and parses
 * `{ServerURL, Username, Secret}` from stdout. A "credentials not found" answer is
 * undefined; any other failure is an error that names the helper but not the secret.
 */
export async function helperGet(name: string, serverUrl: string, opts: HelperOptions = {}): Promise<Credentials | undefined> {
  if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new BerthError('InvalidArgument', `invalid credential helper name "${name}"`);
  const program = `docker-credential-${name}`;
  const env = { ...process.env };
  if (opts.path !== undefined) env['PATH'] = opts.path;
  const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>(
    (resolve, reject) => {
      const child = spawn(program, ['get'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
      child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
      child.on('error', (e) => {
        clearTimeout(timer);
        reject(new BerthError('Unavailable', `credential helper ${program}: ${e.message}`, { cause: e }));
      });
      child.on('close', (c) => {
        clearTimeout(timer);
        resolve({ code: c, stdout: out, stderr: err });
      });
      child.stdin.on('error', () => {});
      child.stdin.end(serverUrl);
    },
  );
  if (code !== 0) {
    if (NOT_FOUND.test(stdout) || NOT_FOUND.test(stderr)) return undefined;
    // stderr of a helper may echo input; keep only its first line, which is its message
    const msg = (stderr || stdout).split('\n')[0]!.slice(0, 200);
    throw new BerthError('Unavailable', `credential helper ${program} failed (exit ${code}): ${msg}`);
  }
  let parsed: { Username?: string; Secret?: string };
  try {
    parsed = JSON.parse(stdout) as { Username?: string; Secret?: string };
  } catch {
    throw new BerthError('Unavailable', `credential helper ${program} printed invalid JSON`);
  }
  if (!parsed.Secret) return undefined;
  // Docker's convention: the username "<token>" marks an identity (refresh) token
  if (parsed.Username === '<token>') return { identityToken: parsed.Secret };
  return { username: parsed.Username ?? '', password: parsed.Secret };
}
