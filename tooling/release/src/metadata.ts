// What every published package must say about itself, checked on the workspace manifest
// and on the tarball `pnpm pack` makes of it (what `pnpm changeset publish` uploads).
import { execFile } from 'node:child_process';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT, readManifest, workspacePackages, type Manifest, type WorkspacePackage } from './workspace.js';

const run = promisify(execFile);

/** The fields each public package.json carries; `fixManifest` writes them. */
export function expectedFields(pkg: WorkspacePackage, root = ROOT): Partial<Manifest> {
  const rootManifest = readManifest(root);
  const repo = rootManifest.repository as { type: string; url: string };
  return {
    license: rootManifest.license as string,
    repository: { type: repo.type, url: repo.url, directory: pkg.path },
    engines: { node: rootManifest.engines!['node']! },
    publishConfig: { access: 'public' },
  };
}

/** Problems with a public package's workspace manifest, each naming its fix. */
export function manifestProblems(pkg: WorkspacePackage, root = ROOT): string[] {
  const m = pkg.manifest;
  const problems: string[] = [];
  const want = expectedFields(pkg, root);
  if (!m.name.startsWith('@berth/')) problems.push(`name ${m.name} is not in the @berth scope`);
  if (!m.description) problems.push('no description');
  if (m.type !== 'module') problems.push('type is not "module"');
  for (const key of ['license', 'repository', 'engines', 'publishConfig'] as const) {
    if (JSON.stringify(m[key]) !== JSON.stringify(want[key])) problems.push(`${key} should be ${JSON.stringify(want[key])}`);
  }
  if (typeof m.sideEffects !== 'boolean' && !Array.isArray(m.sideEffects)) problems.push('sideEffects is not declared (false, or the files that have them)');
  if (!m.files?.length) problems.push('files is not declared (what the tarball holds: dist)');
  if (m.exports === undefined) problems.push('no exports');
  if (m.bin === undefined) {
    // a library: every entry point comes with its types, listed first
    for (const [subpath, entry] of exportEntries(m.exports)) {
      if (subpath === './package.json') continue;
      if (typeof entry !== 'object' || entry === null) {
        problems.push(`exports["${subpath}"] has no conditions (types, import)`);
        continue;
      }
      const keys = Object.keys(entry).filter((k) => k !== 'source');
      if (keys[0] !== 'types') problems.push(`exports["${subpath}"] does not start with its types`);
      if (!keys.includes('import') && !keys.includes('default')) problems.push(`exports["${subpath}"] has no import`);
    }
  }
  for (const [name, range] of Object.entries(m.dependencies ?? {})) {
    if (range === '*' || range === 'latest') problems.push(`dependency ${name} has no version range`);
  }
  return problems;
}

function exportEntries(exports: unknown): [string, unknown][] {
  if (typeof exports === 'string') return [['.', { default: exports }]];
  if (typeof exports !== 'object' || exports === null) return [];
  const entries = Object.entries(exports as Record<string, unknown>);
  // conditions at the top level stand for ".": { "types", "import" }
  return entries.every(([k]) => k.startsWith('.')) ? entries : [['.', exports]];
}

export interface Packed {
  pkg: WorkspacePackage;
  tarball: string;
  manifest: Manifest;
  files: string[];
}

/** `pnpm pack` of one package into `dest`, read back: its manifest and file list. */
export async function pack(pkg: WorkspacePackage, dest: string): Promise<Packed> {
  const { stdout } = await run('pnpm', ['pack', '--pack-destination', dest, '--json'], { cwd: pkg.dir, maxBuffer: 64 << 20 });
  const { filename } = JSON.parse(stdout.slice(stdout.indexOf('{'))) as { filename: string };
  const tarball = filename.startsWith('/') ? filename : join(dest, filename);
  const [list, json] = await Promise.all([
    run('tar', ['tzf', tarball], { maxBuffer: 64 << 20 }),
    run('tar', ['xzf', tarball, '-O', 'package/package.json']),
  ]);
  const files = list.stdout.split('\n').filter(Boolean).map((f) => f.replace(/^package\//, ''));
  return { pkg, tarball, manifest: JSON.parse(json.stdout) as Manifest, files };
}

/**
 * The only install-time scripts a published package may have: none builds anything or
 * needs more than node. @berth/cli's names node on berth's #! line (apps/cli/install/pin-node.cjs).
 */
const INSTALL_SCRIPTS: Record<string, Record<string, string>> = { '@berth/cli': { postinstall: 'node install/pin-node.cjs' } };

/** Problems with what a tarball holds: what an `npm install` of it alone would meet. */
export async function packedProblems(packed: Packed, root = ROOT): Promise<string[]> {
  const { manifest: m, files } = packed;
  const problems: string[] = [];
  const text = JSON.stringify(m);
  if (text.includes('workspace:')) problems.push('the published manifest still has a workspace: range');
  if (m.devDependencies) problems.push('the published manifest carries devDependencies');
  for (const script of ['preinstall', 'install', 'postinstall', 'prepare']) {
    const command = m.scripts?.[script];
    if (!command) continue;
    if (INSTALL_SCRIPTS[m.name]?.[script] !== command) problems.push(`the published manifest has an ${script} script`);
    else if (!files.includes(command.replace(/^node /, ''))) problems.push(`its ${script} script runs ${command}, which is not in the tarball`);
  }
  const privateNames = new Set(workspacePackages(root).filter((p) => p.manifest.private).map((p) => p.manifest.name));
  for (const field of ['dependencies', 'peerDependencies', 'optionalDependencies'] as const) {
    for (const name of Object.keys(m[field] ?? {})) {
      if (privateNames.has(name)) problems.push(`${field} names ${name}, which is private (never published)`);
    }
  }
  if (!files.includes('README.md')) problems.push('README.md is not in the tarball');
  if (!files.includes('package.json')) problems.push('package.json is not in the tarball');
  const stray = files.filter((f) => /^(src|test|bench)\//.test(f) || f.includes('/node_modules/'));
  if (stray.length > 0) problems.push(`the tarball holds sources or tests: ${stray.slice(0, 3).join(', ')}`);
  for (const target of referencedFiles(m)) {
    if (!files.includes(target)) problems.push(`${target} is referenced by the manifest but not in the tarball`);
  }
  if (text.includes('"source"')) problems.push('the published exports keep the "source" condition (src/ is not shipped)');
  problems.push(...(await undeclaredImports(packed)));
  return problems;
}

/** Files named by main, types, bin and every exports target. */
function referencedFiles(m: Manifest): string[] {
  const out: string[] = [];
  const add = (p: unknown): void => {
    if (typeof p === 'string' && !p.includes('*')) out.push(p.replace(/^\.\//, ''));
  };
  add(m.main);
  add(m.types);
  if (typeof m.bin === 'string') add(m.bin);
  else for (const p of Object.values(m.bin ?? {})) add(p);
  const walk = (v: unknown): void => {
    if (typeof v === 'string') add(v);
    else if (typeof v === 'object' && v !== null) for (const inner of Object.values(v)) walk(inner);
  };
  walk(m.exports);
  return out;
}

const BUILTINS = new Set(builtinModules);

/** Bare imports in the shipped JavaScript that no dependency of the package provides. */
async function undeclaredImports(packed: Packed): Promise<string[]> {
  const { manifest: m } = packed;
  const declared = new Set([
    m.name,
    ...Object.keys(m.dependencies ?? {}),
    ...Object.keys(m.peerDependencies ?? {}),
    ...Object.keys(m.optionalDependencies ?? {}),
  ]);
  const js = packed.files.filter((f) => /\.(c|m)?js$/.test(f));
  if (js.length === 0) return [];
  const { stdout } = await run('tar', ['xzf', packed.tarball, '-O', ...js.map((f) => `package/${f}`)], { maxBuffer: 256 << 20 });
  const missing = new Set<string>();
  // a bare specifier: an optional @scope/, a name, an optional subpath (template strings
  // and messages that happen to say `from '` do not look like that)
  const re = /(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*|^import\s+)["']((?:@[\w.-]+\/)?[\w][\w.-]*(?:\/[\w./-]*)?)["']/gm;
  for (const match of stdout.matchAll(re)) {
    const spec = match[1]!;
    if (spec.startsWith('node:') || BUILTINS.has(spec)) continue;
    const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
    if (BUILTINS.has(name) || declared.has(name)) continue;
    missing.add(name);
  }
  return [...missing].map((name) => `the shipped code imports ${name}, which is not a dependency`);
}
