import { X509Certificate, createPrivateKey, randomBytes, sign } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A Docker token service for tests: GET /token?service=&scope=... with optional Basic
 * auth answers an ES256 JWT whose header carries the signing certificate as `x5c`
 * (distribution verifies the chain against its rootcertbundle). Anonymous callers get
 * `pull` only; known users get what they ask for; a wrong password gets 401.
 */
export interface TokenIssuer {
  realm: string;
  service: string;
  issuer: string;
  /** Requests served, by outcome. */
  stats: { issued: number; rejected: number; requests: string[] };
  /** Answer with `access_token` instead of `token` from now on. */
  useAccessTokenField(on: boolean): void;
  /** Sign the next token with a bad signature (the registry will answer 401). */
  corruptNext(): void;
  /** Lifetime of the next tokens, in seconds. */
  setExpiresIn(seconds: number): void;
  close(): Promise<void>;
}

function b64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

export async function startTokenIssuer(opts: {
  certPath: string;
  keyPath: string;
  users: Record<string, string>;
  /** Refresh tokens (Docker identity tokens) and the user each stands for. */
  refreshTokens?: Record<string, string>;
}): Promise<TokenIssuer> {
  const certPem = await readFile(opts.certPath, 'utf8');
  const key = createPrivateKey(await readFile(opts.keyPath, 'utf8'));
  const x5c = [new X509Certificate(certPem).raw.toString('base64')];
  const service = 'berth-test-registry';
  const issuer = 'berth-test-issuer';
  let accessTokenField = false;
  let expiresIn = 300;
  let corrupt = false;
  const stats = { issued: 0, rejected: 0, requests: [] as string[] };

  const server: Server = createServer((req, res) => {
    let form = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (form += d));
    req.on('end', () => answer(req, res, form));
  });
  const answer = (req: IncomingMessage, res: ServerResponse, form: string) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname !== '/token') {
      res.writeHead(404).end();
      return;
    }
    stats.requests.push(req.method === 'POST' ? `POST ${form.replace(/refresh_token=[^&]*/, 'refresh_token=…')}` : url.search);
    let subject = '';
    if (req.method === 'POST') {
      // OAuth2 refresh-token grant (Docker identity tokens)
      const f = new URLSearchParams(form);
      const user = opts.refreshTokens?.[f.get('refresh_token') ?? ''];
      if (f.get('grant_type') !== 'refresh_token' || !user) {
        stats.rejected++;
        res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'invalid_grant' }));
        return;
      }
      subject = user;
      for (const sc of (f.get('scope') ?? '').split(' ').filter(Boolean)) url.searchParams.append('scope', sc);
      url.searchParams.set('service', f.get('service') ?? service);
    }
    const auth = req.headers.authorization;
    if (req.method !== 'POST' && auth?.startsWith('Basic ')) {
      const [user, ...rest] = Buffer.from(auth.slice(6), 'base64').toString('utf8').split(':');
      const pass = rest.join(':');
      if (!user || opts.users[user] !== pass) {
        stats.rejected++;
        res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ details: 'bad credentials' }));
        return;
      }
      subject = user;
    }
    const access = url.searchParams.getAll('scope').flatMap((s) => s.split(' ')).filter(Boolean).map((scope) => {
      const [type, ...mid] = scope.split(':');
      const actions = mid.pop()!.split(',');
      return { type: type!, name: mid.join(':'), actions: subject ? actions : actions.filter((a) => a === 'pull') };
    });
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: 'JWT', alg: 'ES256', x5c };
    const claims = { iss: issuer, sub: subject, aud: url.searchParams.get('service') ?? service, exp: now + expiresIn, nbf: now - 5, iat: now, jti: randomBytes(8).toString('hex'), access };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const sig = sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
    if (corrupt) {
      sig[0] = sig[0]! ^ 0xff;
      corrupt = false;
    }
    const jwt = `${input}.${b64url(sig)}`;
    stats.issued++;
    // `docker login` asks for an offline token: a refresh token the client keeps as its
    // identity token and trades for access tokens later (the POST grant above).
    let refresh: { refresh_token?: string } = {};
    if (req.method !== 'POST' && subject && url.searchParams.get('offline_token') === 'true') {
      const rt = `rt-${randomBytes(8).toString('hex')}`;
      opts.refreshTokens = { ...opts.refreshTokens, [rt]: subject };
      refresh = { refresh_token: rt };
    }
    const body = accessTokenField
      ? { access_token: jwt, expires_in: expiresIn, issued_at: new Date(now * 1000).toISOString() }
      : { token: jwt, expires_in: expiresIn, issued_at: new Date(now * 1000).toISOString() };
    Object.assign(body, refresh);
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    realm: `http://127.0.0.1:${port}/token`,
    service,
    issuer,
    stats,
    useAccessTokenField: (on) => (accessTokenField = on),
    setExpiresIn: (s) => (expiresIn = s),
    corruptNext: () => (corrupt = true),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
