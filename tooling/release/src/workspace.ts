// The workspace as pnpm sees it: the package folders that pnpm-workspace.yaml's globs
// match, read afresh every time, so a package added tomorrow is released and checked
// without anyone editing a list.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url)).replace(/\/$/, '');

export interface Manifest {
  name: string;
  version: string;
  private?: boolean;
  description?: string;
  license?: string;
  type?: string;
  main?: string;
  types?: string;
  bin?: string | Record<string, string>;
  files?: string[];
  exports?: unknown;
  engines?: Record<string, string>;
  repository?: { type?: string; url?: string; directory?: string } | string;
  sideEffects?: boolean | string[];
  publishConfig?: Record<string, unknown>;
  scripts?: Record<string, string>;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  [key: string]: unknown;
}

export interface WorkspacePackage {
  /** Absolute folder. */
  dir: string;
  /** Folder relative to the root, e.g. `packages/runtime`. */
  path: string;
  manifest: Manifest;
}

/** The `packages:` globs of pnpm-workspace.yaml (a list of quoted or bare strings). */
export function workspaceGlobs(root = ROOT): string[] {
  const text = readFileSync(join(root, 'pnpm-workspace.yaml'), 'utf8');
  const globs: string[] = [];
  let inPackages = false;
  for (const line of text.split('\n')) {
    if (/^\S/.test(line)) inPackages = /^packages:\s*$/.test(line);
    else if (inPackages) {
      const m = /^\s+-\s+['"]?([^'"#]+?)['"]?\s*(#.*)?$/.exec(line);
      if (m) globs.push(m[1]!);
    }
  }
  if (globs.length === 0) throw new Error('pnpm-workspace.yaml lists no packages');
  return globs;
}

/** Every folder with a package.json matched by the globs (`dir/*`, `dir/**`, `dir`, `!dir`). */
export function workspacePackages(root = ROOT): WorkspacePackage[] {
  const include = new Set<string>();
  const exclude: string[] = [];
  for (const glob of workspaceGlobs(root)) {
    if (glob.startsWith('!')) exclude.push(glob.slice(1).replace(/\/\*\*?$/, ''));
    else for (const dir of expand(root, glob)) include.add(dir);
  }
  return [...include]
    .filter((dir) => !exclude.some((e) => dir === e || dir.startsWith(`${e}/`)))
    .sort()
    .map((path) => ({ dir: join(root, path), path, manifest: readManifest(join(root, path)) }));
}

function expand(root: string, glob: string): string[] {
  const parts = glob.replace(/\/$/, '').split('/');
  let dirs = [''];
  for (const part of parts) {
    const next: string[] = [];
    for (const dir of dirs) {
      if (part === '**') next.push(dir, ...descendants(root, dir));
      else if (part.includes('*')) {
        const re = new RegExp(`^${part.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')}$`);
        for (const name of subdirs(root, dir)) if (re.test(name)) next.push(join(dir, name));
      } else next.push(join(dir, part));
    }
    dirs = next;
  }
  return dirs.filter((dir) => existsSync(join(root, dir, 'package.json'))).map((dir) => relative('', dir));
}

function subdirs(root: string, dir: string): string[] {
  try {
    return readdirSync(join(root, dir), { withFileTypes: true })
      .filter((e) => e.isDirectory() && e.name !== 'node_modules' && !e.name.startsWith('.'))
      .map((e) => e.name);
  } catch {
    return [];
  }
}

function descendants(root: string, dir: string): string[] {
  return subdirs(root, dir).flatMap((name) => [join(dir, name), ...descendants(root, join(dir, name))]);
}

export function readManifest(dir: string): Manifest {
  return JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Manifest;
}

/** The packages a release publishes: those not marked private. */
export function publicPackages(root = ROOT): WorkspacePackage[] {
  return workspacePackages(root).filter((p) => p.manifest.private !== true);
}

/** Library packages (no bin): each has a README example the release test runs. */
export function libraryPackages(root = ROOT): WorkspacePackage[] {
  return publicPackages(root).filter((p) => p.manifest.bin === undefined);
}
