/**
 * What a registry login holds. A secret is never logged or put in an error message:
 * `describeCredentials` is the only string form.
 */
export interface Credentials {
  username?: string;
  password?: string;
  /** An OAuth2 refresh token (Docker's `identitytoken`), exchanged at the token realm. */
  identityToken?: string;
  /** A ready bearer token sent as is (Docker's `registrytoken`). */
  registryToken?: string;
}

/** Looks up credentials for a registry (`docker.io`, `host:port`). */
export interface CredentialStore {
  /** The credentials for `registry`, or undefined when none are stored. */
  get(registry: string): Promise<Credentials | undefined>;
}

/** A store that also saves and forgets logins (`berth login` / `logout`). */
export interface WritableCredentialStore extends CredentialStore {
  set(registry: string, creds: Credentials): Promise<void>;
  erase(registry: string): Promise<void>;
}

/** The keys Docker uses for a registry in config.json `auths` and for helpers. */
export function registryKeys(registry: string): string[] {
  if (registry === 'docker.io' || registry === 'index.docker.io' || registry === 'registry-1.docker.io') {
    return ['https://index.docker.io/v1/', 'index.docker.io', 'docker.io', 'registry-1.docker.io', 'https://index.docker.io/v1'];
  }
  return [registry, `https://${registry}`, `http://${registry}`, `https://${registry}/v1/`, `https://${registry}/v2/`];
}

/** Tries each store in order; the first that has credentials wins. */
export class ChainCredentialStore implements CredentialStore {
  constructor(private readonly stores: CredentialStore[]) {}
  async get(registry: string): Promise<Credentials | undefined> {
    for (const s of this.stores) {
      const c = await s.get(registry);
      if (c) return c;
    }
    return undefined;
  }
}

/** Fixed credentials per registry, for callers that got them elsewhere (API `X-Registry-Auth`). */
export class StaticCredentialStore implements CredentialStore {
  private readonly map: Map<string, Credentials>;
  constructor(entries: Record<string, Credentials>) {
    this.map = new Map(Object.entries(entries));
  }
  async get(registry: string): Promise<Credentials | undefined> {
    for (const k of registryKeys(registry)) {
      const c = this.map.get(k);
      if (c) return c;
    }
    return undefined;
  }
}

/** A log-safe description: who, never the secret. */
export function describeCredentials(c: Credentials | undefined): string {
  if (!c) return 'anonymous';
  if (c.username) return `user ${JSON.stringify(c.username)}`;
  if (c.identityToken) return 'identity token';
  if (c.registryToken) return 'registry token';
  return 'anonymous';
}

export function encodeAuth(username: string, password: string): string {
  return Buffer.from(`${username}:${password}`, 'utf8').toString('base64');
}

/** Decodes a config.json `auth` field (`base64(user:password)`). */
export function decodeAuth(auth: string): { username: string; password: string } | undefined {
  const text = Buffer.from(auth, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon <= 0) return undefined;
  return { username: text.slice(0, colon), password: text.slice(colon + 1) };
}
