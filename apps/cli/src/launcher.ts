// dist/berth.js: answers --version before anything else is loaded, else runs the CLI
// (dist/berth-main.js, built from src/main.ts) through V8's code cache. Node 20 has no
// compile cache of its own (22 does), and compiling the bundle's functions is a fair share
// of every command's start-up, so the code V8 made on the first run is kept under
// ~/.cache/berth and handed back next time.
// Every require is inside runMain: `--version` costs node's start and one write.
import type * as Fs from 'node:fs';
import type * as Path from 'node:path';
import type * as Vm from 'node:vm';
import { BERTH_BUILD, BERTH_VERSION } from './version.js';

const argv = process.argv.slice(2);
if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-v')) {
  printVersion(`Berth version ${BERTH_VERSION}, build ${BERTH_BUILD}\n`);
} else {
  runMain();
}

function runMain(): void {
  const fs = require('node:fs') as typeof Fs;
  const { join } = require('node:path') as typeof Path;
  const file = join(__dirname, 'berth-main.js');
  const { size, mtimeMs } = fs.statSync(file);
  // esbuild writes ASCII (it escapes the rest): latin1 is the cheapest exact decoding. The
  // build wrapped it already (src/module-wrapper.ts).
  const source = fs.readFileSync(file, 'latin1');
  const dir = cacheDir(join);
  const name = `main-${process.version}-${process.arch}-${size}-${Math.floor(mtimeMs)}.cache`;
  let cachedData: Buffer | undefined;
  if (dir) {
    try {
      cachedData = fs.readFileSync(join(dir, name));
    } catch {
      // first run of this build
    }
  }
  const { Script } = require('node:vm') as typeof Vm;
  const script = new Script(source, { filename: file, ...(cachedData ? { cachedData } : {}) });
  if (dir && (!cachedData || script.cachedDataRejected)) {
    // after the command ran: the cache then holds the functions it compiled too
    process.once('exit', () => saveCache(fs, join, script, dir, name));
  }
  const module = { exports: {} };
  const wrapper = script.runInThisContext() as (exports: object, require: NodeJS.Require, module: object, filename: string, dirname: string) => void;
  wrapper.call(module.exports, module.exports, require, module, file, __dirname);
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

function saveCache(fs: typeof Fs, join: typeof Path.join, script: Vm.Script, dir: string, name: string): void {
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    for (const old of fs.readdirSync(dir)) if (old.startsWith('main-') && old !== name) fs.rmSync(join(dir, old), { force: true });
    const tmp = join(dir, `${name}.${process.pid}`);
    fs.writeFileSync(tmp, script.createCachedData());
    fs.renameSync(tmp, join(dir, name));
  } catch {
    // a read-only home: just no cache
  }
}
