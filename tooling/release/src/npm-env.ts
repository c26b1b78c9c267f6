// The environment of a new user's machine for npm: a clean HOME, an empty npm cache, an
// .npmrc that points the @berth scope at the private registry, and a PATH with node and
// sh only (no compiler, make or python: nothing may be built from source). The machine's
// global npmrc stays (its CA file, proxy), as it would for that user.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface NpmEnv {
  env: NodeJS.ProcessEnv;
  home: string;
  /** node and sh only. */
  toolsDir: string;
}

const KEPT_PREFIXES = ['npm_', 'NPM_', 'PNPM_', 'pnpm_', 'VITEST', 'TURBO_', 'NODE_OPTIONS', 'INIT_CWD'];

export async function cleanNpmEnv(dir: string, npmrcLines: string[], extra: Record<string, string> = {}): Promise<NpmEnv> {
  const home = join(dir, 'home');
  const toolsDir = join(dir, 'tools');
  await mkdir(home, { recursive: true });
  await mkdir(toolsDir, { recursive: true });
  await symlink(process.execPath, join(toolsDir, 'node'));
  await symlink('/bin/sh', join(toolsDir, 'sh'));
  await writeFile(join(home, '.npmrc'), `${npmrcLines.join('\n')}\n`);
  const globalconfig = execFileSync('npm', ['config', 'get', 'globalconfig'], { encoding: 'utf8' }).trim();
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!KEPT_PREFIXES.some((p) => key.startsWith(p))) env[key] = value;
  }
  Object.assign(env, {
    HOME: home,
    PATH: toolsDir,
    npm_config_userconfig: join(home, '.npmrc'),
    npm_config_globalconfig: globalconfig,
    npm_config_cache: join(dir, 'npm-cache'),
    npm_config_update_notifier: 'false',
    npm_config_fund: 'false',
    npm_config_audit: 'false',
    ...extra,
  });
  return { env, home, toolsDir };
}

/** Bytes under a folder (files as stored, symlinks not followed). */
export async function folderBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) total += await folderBytes(p);
    else if (entry.isFile()) total += (await stat(p)).size;
  }
  return total;
}

/** Installed packages (under node_modules) with an install-time script, or a binding.gyp npm would build. */
export async function packagesWithInstallScripts(nodeModules: string): Promise<string[]> {
  const found: string[] = [];
  const visit = async (dir: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      if (!entry.isDirectory() || entry.name === '.bin') continue;
      const p = join(dir, entry.name);
      if (entry.name.startsWith('@')) {
        await visit(p);
        continue;
      }
      try {
        const m = JSON.parse(await readFile(join(p, 'package.json'), 'utf8')) as { name: string; scripts?: Record<string, string> };
        if (['preinstall', 'install', 'postinstall'].some((s) => m.scripts?.[s]) || existsSync(join(p, 'binding.gyp'))) found.push(m.name);
      } catch {
        // not a package
      }
      await visit(join(p, 'node_modules'));
    }
  };
  await visit(nodeModules);
  return found.sort();
}
