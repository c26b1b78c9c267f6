import { parseDigest, type Digest } from './digest.js';
import { InvalidArgumentError } from './errors.js';

// The grammar of github.com/distribution/reference (regexp.go, normalize.go), which the
// docker CLI uses; kept production for production so Berth accepts exactly what docker does.
const alphanumeric = '[a-z0-9]+';
const separator = '(?:[._]|__|[-]+)';
const pathComponent = `${alphanumeric}(?:${separator}${alphanumeric})*`;
const remoteName = `${pathComponent}(?:/${pathComponent})*`;
const domainNameComponent = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const domainName = `${domainNameComponent}(?:\\.${domainNameComponent})*`;
const ipv6address = '\\[(?:[a-fA-F0-9:]+)\\]';
const host = `(?:${domainName}|${ipv6address})`;
const domainAndPort = `${host}(?::[0-9]+)?`;
const tagPattern = '[\\w][\\w.-]{0,127}';
const digestPattern = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9a-fA-F]{32,}';
const namePattern = `(?:${domainAndPort}/)?${remoteName}`;

const REFERENCE_RE = new RegExp(`^(${namePattern})(?::(${tagPattern}))?(?:@(${digestPattern}))?$`);
const DOMAIN_RE = new RegExp(`^${domainAndPort}$`);
const PATH_COMPONENT_RE = new RegExp(`^${pathComponent}$`);
const TAG_RE = new RegExp(`^${tagPattern}$`);
const IDENTIFIER_RE = /^[a-f0-9]{64}$/;

/** The longest repository name (domain and path) distribution accepts. */
export const NAME_TOTAL_LENGTH_MAX = 255;
export const DEFAULT_DOMAIN = 'docker.io';
export const DEFAULT_TAG = 'latest';
const LEGACY_DEFAULT_DOMAIN = 'index.docker.io';
const OFFICIAL_REPO_PREFIX = 'library/';

/** A normalised image reference: `domain/path[:tag][@digest]`. */
export class Reference {
  readonly domain: string;
  readonly path: string;
  readonly tag: string | undefined;
  readonly digest: Digest | undefined;

  constructor(domain: string, path: string, tag?: string, digest?: Digest) {
    this.domain = domain;
    this.path = path;
    this.tag = tag;
    this.digest = digest;
  }

  /** The repository name, `domain/path`. */
  get name(): string {
    return `${this.domain}/${this.path}`;
  }

  /** The fully qualified form, e.g. `docker.io/library/busybox:latest`. */
  toString(): string {
    return this.name + (this.tag !== undefined ? `:${this.tag}` : '') + (this.digest ? `@${this.digest}` : '');
  }

  /** The short name docker prints: `busybox`, `foo/bar`, `localhost:5000/a/b`. */
  familiarName(): string {
    if (this.domain !== DEFAULT_DOMAIN) return this.name;
    if (this.path.startsWith(OFFICIAL_REPO_PREFIX)) {
      const rest = this.path.slice(OFFICIAL_REPO_PREFIX.length);
      if (!rest.includes('/')) return rest;
    }
    // Unlike docker, keep docker.io when the short form would read back with another
    // domain (`docker.io/a.b/c` is not `a.b/c`), so familiar() always parses back.
    const first = this.path.slice(0, this.path.indexOf('/'));
    if (this.path.includes('/') && (/[.:]/.test(first) || first === 'localhost')) return this.name;
    return this.path;
  }

  /** The short form docker prints: `busybox:latest`, `foo/bar@sha256:...`. */
  familiar(): string {
    return this.familiarName() + (this.tag !== undefined ? `:${this.tag}` : '') + (this.digest ? `@${this.digest}` : '');
  }

  withTag(tag: string): Reference {
    if (!TAG_RE.test(tag)) throw new InvalidArgumentError(`invalid tag "${tag}": must match ${tagPattern}`);
    return new Reference(this.domain, this.path, tag, this.digest);
  }

  withDigest(digest: string): Reference {
    parseDigest(digest);
    return new Reference(this.domain, this.path, this.tag, digest as Digest);
  }

  /** The repository alone, without tag or digest. */
  repository(): Reference {
    return new Reference(this.domain, this.path);
  }
}

/** Splits the registry host off like docker: the first component is a domain only if it
 * contains '.' or ':', is `localhost`, or has uppercase letters; otherwise docker.io. */
function splitDockerDomain(name: string): { domain: string; remainder: string } {
  const i = name.indexOf('/');
  let domain: string;
  let remainder: string;
  if (i === -1 || (!/[.:]/.test(name.slice(0, i)) && name.slice(0, i) !== 'localhost' && name.slice(0, i).toLowerCase() === name.slice(0, i))) {
    domain = DEFAULT_DOMAIN;
    remainder = name;
  } else {
    domain = name.slice(0, i);
    remainder = name.slice(i + 1);
  }
  if (domain === LEGACY_DEFAULT_DOMAIN) domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && !remainder.includes('/')) remainder = OFFICIAL_REPO_PREFIX + remainder;
  return { domain, remainder };
}

function invalid(input: string, why: string): InvalidArgumentError {
  return new InvalidArgumentError(`invalid reference format "${input}": ${why}`);
}

/** Explains why a full reference failed the grammar, naming the part at fault. */
function diagnose(input: string, full: string): InvalidArgumentError {
  const at = full.indexOf('@');
  let rest = at === -1 ? full : full.slice(0, at);
  if (at !== -1) {
    const digest = full.slice(at + 1);
    if (!new RegExp(`^${digestPattern}$`).test(digest)) return invalid(input, `digest "${digest}" is not algorithm:hex`);
  }
  const slash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > slash) {
    const tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG_RE.test(tag)) {
      return invalid(input, `tag "${tag}" must match ${tagPattern} (letters, digits, '_', '.', '-'; at most 128)`);
    }
  }
  const firstSlash = rest.indexOf('/');
  const domain = rest.slice(0, firstSlash);
  if (!DOMAIN_RE.test(domain)) {
    const colon = input.indexOf(':');
    if (colon !== -1 && !/^\d+\//.test(input.slice(colon + 1)) && input.slice(colon + 1).includes('/')) {
      return invalid(input, `tag "${input.slice(colon + 1)}" must not contain '/' (or "${domain}" is not a valid host:port)`);
    }
    return invalid(input, `domain "${domain}" is not a valid host[:port]`);
  }
  for (const component of rest.slice(firstSlash + 1).split('/')) {
    if (!PATH_COMPONENT_RE.test(component)) {
      if (PATH_COMPONENT_RE.test(component.toLowerCase())) return invalid(input, `repository name must be lowercase`);
      return invalid(
        input,
        `path component "${component}" must be lowercase letters and digits separated by '.', '_', '__' or '-'`,
      );
    }
  }
  // A tag with path-like content (`a:b/c`) ends up here: the ':' sits before a '/'.
  return invalid(input, 'does not match name[:tag][@digest]');
}

/**
 * Parses a reference the way the docker CLI does (ParseNormalizedNamed):
 * `busybox` -> docker.io/library/busybox, `localhost:5000/a/b@sha256:...`,
 * `host:5000/x:tag`, tag and digest together. No default tag is added; see
 * {@link withDefaultTag} / {@link normalizeReference}. Throws InvalidArgument naming
 * the part at fault (empty, uppercase, too long, bad tag, bad digest, bad domain).
 */
export function parseReference(input: string): Reference {
  if (typeof input !== 'string') throw new InvalidArgumentError('reference must be a string');
  if (input === '') throw invalid(input, 'repository name must have at least one component');
  if (IDENTIFIER_RE.test(input)) {
    throw new InvalidArgumentError(`invalid repository name "${input}": cannot specify 64-byte hexadecimal strings`);
  }
  // Bound the work the regular expression does on hostile input.
  if (input.length > NAME_TOTAL_LENGTH_MAX + 256 + 200) throw invalid(input.slice(0, 64) + '...', 'too long');
  const { domain, remainder } = splitDockerDomain(input);
  const tagSep = remainder.indexOf(':');
  const remote = tagSep === -1 ? remainder : remainder.slice(0, tagSep);
  if (remote.toLowerCase() !== remote) throw invalid(input, `repository name "${remote}" must be lowercase`);
  const full = `${domain}/${remainder}`;
  const m = REFERENCE_RE.exec(full);
  if (!m) throw diagnose(input, full);
  const name = m[1]!;
  if (name.length > NAME_TOTAL_LENGTH_MAX) {
    throw invalid(input, `repository name must not be more than ${NAME_TOTAL_LENGTH_MAX} characters`);
  }
  let digest: Digest | undefined;
  if (m[3] !== undefined) {
    try {
      parseDigest(m[3]);
    } catch (err) {
      throw invalid(input, (err as Error).message);
    }
    digest = m[3] as Digest;
  }
  const slash = name.indexOf('/');
  return new Reference(name.slice(0, slash), name.slice(slash + 1), m[2], digest);
}

/** Parses a repository name alone (no tag, no digest): `busybox` -> docker.io/library/busybox. */
export function parseRepositoryName(input: string): Reference {
  const ref = parseReference(input);
  if (ref.tag !== undefined || ref.digest !== undefined) {
    throw new InvalidArgumentError(`invalid repository name "${input}": must not have a tag or digest`);
  }
  return ref;
}

/** Adds `:latest` when the reference has neither tag nor digest (docker's TagNameOnly). */
export function withDefaultTag(ref: Reference): Reference {
  return ref.tag === undefined && ref.digest === undefined ? ref.withTag(DEFAULT_TAG) : ref;
}

/** parseReference + withDefaultTag: `busybox` -> docker.io/library/busybox:latest. */
export function normalizeReference(input: string): Reference {
  return withDefaultTag(parseReference(input));
}

/** True when `tag` is a valid tag (`[\w][\w.-]{0,127}`). */
export function isValidTag(tag: string): boolean {
  return TAG_RE.test(tag);
}
