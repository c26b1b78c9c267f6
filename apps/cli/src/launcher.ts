// dist/berth.js: answers --version before anything else is loaded; runs `ps` through
// dist/berth-ps.js (src/fast/ps.ts: no commander, no http client), which hands any line it
// does not answer to the whole CLI; runs every other command through dist/berth-main.js
// (built from src/main.ts). Both bundles are compiled through V8's code cache: Node 20 has
// no compile cache of its own (22 does), and compiling a bundle's functions is a fair
// share of every command's start-up, so the code V8 made on the first run is kept under
// $XDG_CACHE_HOME/berth (~/.cache/berth): the user's own, writable wherever the package
// was installed (a global prefix is often root's), and per node version by its file name.
// Every require is inside the functions: `--version` costs node's start and one write.
import type * as Fs from 'node:fs';
import type * as Path from 'node:path';
import type * as Vm from 'node:vm';
import { BERTH_BUILD, BERTH_VERSION } from './version.js';

type Exports = Record<string, unknown>;

const argv = process.argv.slice(2);
if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-v')) {
  printVersion(`Berth version ${BERTH_VERSION}, build ${BERTH_BUILD}\n`);
} else if (argv[0] === 'ps' || (argv[0] === 'container' && ['ls', 'ps', 'list'].includes(argv[1] ?? ''))) {
  runPs();
} else {
  runMain();
}

function runMain(): void {
  runBundle('berth-main.js', 'main');
}

/** The short path's bundle; missing or broken, the whole CLI answers. */
function runPs(): void {
  let runPsLine: unknown;
  try {
    runPsLine = runBundle('berth-ps.js', 'ps')['runPs'];
  } catch {
    // not there, or not this build's
  }
  if (typeof runPsLine === 'function') (runPsLine as (argv: string[], fallback: () => void) => void)(argv, runMain);
  else runMain();
}

/**
 * Runs dist/`file` (wrapped as a CommonJS module by the build: src/module-wrapper.ts) and
 * returns its exports. Its cache is `<cacheName>-<node>-<arch>-<size>-<mtime>.cache`: another
 * node or another build never reads it, and V8 rejects a cache that does not fit its
 * source or its flags anyway (then it is made again).
 */
function runBundle(file: string, cacheName: string): Exports {
  const fs = require('node:fs') as typeof Fs;
  const { join } = require('node:path') as typeof Path;
  const path = join(__dirname, file);
  const { size, mtimeMs } = fs.statSync(path);
  // esbuild writes ASCII (it escapes the rest): latin1 is the cheapest exact decoding
  const source = fs.readFileSync(path, 'latin1');
  const dir = cacheDir(join);
  const name = `${cacheName}-${process.version}-${process.arch}-${size}-${Math.floor(mtimeMs)}.cache`;
  let cachedData: Buffer | undefined;
  if (dir) {
    try {
      cachedData = fs.readFileSync(join(dir, name));
    } catch {
      // first run of this build
    }
  }
  const { Script } = require('node:vm') as typeof Vm;
  const script = new Script(source, { filename: path, ...(cachedData ? { cachedData } : {}) });
  if (dir && (!cachedData || script.cachedDataRejected)) {
    // after the command ran: the cache then holds the functions it compiled too
    process.once('exit', () => saveCache(fs, join, script, dir, cacheName, name));
  }
  const module = { exports: {} as Exports };
  const wrapper = script.runInThisContext() as (exports: object, require: NodeJS.Require, module: object, filename: string, dirname: string) => void;
  wrapper.call(module.exports, module.exports, require, module, path, __dirname);
  return module.exports;
}

/** Straight to fd 1: process.stdout would load node's stream modules first (~20 of them). */
function printVersion(line: string): void {
  try {
    (require('node:fs') as typeof Fs).writeSync(1, line);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // a reader that went away: quiet, as src/main.ts ends then
    if (code === 'EPIPE') process.exit(141);
    // a non-blocking stdout that is full: the stream waits for it
    if (code !== 'EAGAIN') throw err;
    process.stdout.write(line);
  }
}

function cacheDir(join: typeof Path.join): string | undefined {
  if (process.env['BERTH_NO_CODE_CACHE'] === '1') return undefined;
  const home = process.env['HOME'] || (require('node:os') as { homedir(): string }).homedir();
  return join(process.env['XDG_CACHE_HOME'] || join(home, '.cache'), 'berth');
}

function saveCache(fs: typeof Fs, join: typeof Path.join, script: Vm.Script, dir: string, cacheName: string, name: string): void {
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    // this bundle's caches for other builds or nodes: one per bundle is kept
    for (const old of fs.readdirSync(dir)) if (old.startsWith(`${cacheName}-`) && old.endsWith('.cache') && old !== name) fs.rmSync(join(dir, old), { force: true });
    const tmp = join(dir, `${name}.${process.pid}`);
    fs.writeFileSync(tmp, script.createCachedData());
    fs.renameSync(tmp, join(dir, name));
  } catch {
    // a read-only or full cache folder: just no cache (and no half-written file left)
    try {
      fs.rmSync(join(dir, `${name}.${process.pid}`), { force: true });
    } catch {
      // not even that
    }
  }
}
