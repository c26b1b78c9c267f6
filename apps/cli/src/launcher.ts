// dist/berth.js starts here: it answers --version at once, else runs the CLI (src/main.ts)
// through V8's code cache. Node 20 has no compile cache of its own (22 does), and
// compiling the bundle's functions is a fair share of every command's start-up, so the
// code V8 made on the first run is kept under ~/.cache/berth and handed back next time.
// The build appends the CLI's bundled source to this file as a string (one file to ship;
// a string literal costs the parser next to nothing), passed to __berthMain.
import { mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import Module from 'node:module';
import { Script } from 'node:vm';
import { BERTH_BUILD, BERTH_VERSION } from './version.js';

const argv = process.argv.slice(2);
const versionOnly = argv.length === 1 && (argv[0] === '--version' || argv[0] === '-v');
if (versionOnly) process.stdout.write(`Berth version ${BERTH_VERSION}, build ${BERTH_BUILD}\n`);
(globalThis as { __berthMain?: (source: string) => void }).__berthMain = (source) => {
  if (!versionOnly) runMain(source);
};

function cacheDir(): string | undefined {
  if (process.env['BERTH_NO_CODE_CACHE'] === '1') return undefined;
  const base = process.env['XDG_CACHE_HOME'] || join(homedir(), '.cache');
  return join(base, 'berth');
}

function runMain(source: string): void {
  // the CLI's own name in stack traces
  const file = join(__dirname, 'berth-main.js');
  const dir = cacheDir();
  const { size, mtimeMs } = statSync(__filename);
  const name = `main-${process.version}-${process.arch}-${size}-${Math.floor(mtimeMs)}.cache`;
  let cachedData: Buffer | undefined;
  if (dir) {
    try {
      cachedData = readFileSync(join(dir, name));
    } catch {
      // first run of this build
    }
  }
  const script = new Script(Module.wrap(source), { filename: file, ...(cachedData ? { cachedData } : {}) });
  if (dir && (!cachedData || script.cachedDataRejected)) {
    // after the command ran: the cache then holds the functions it compiled too
    process.once('exit', () => saveCache(script, dir, name));
  }
  const module = { exports: {} };
  const wrapper = script.runInThisContext() as (exports: object, require: NodeJS.Require, module: object, filename: string, dirname: string) => void;
  wrapper.call(module.exports, module.exports, require, module, file, __dirname);
}
function saveCache(script: Script, dir: string, name: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    for (const old of readdirSync(dir)) if (old.startsWith('main-') && old !== name) rmSync(join(dir, old), { force: true });
    const tmp = join(dir, `${name}.${process.pid}`);
    writeFileSync(tmp, script.createCachedData());
    renameSync(tmp, join(dir, name));
  } catch {
    // a read-only home: just no cache
  }
}
