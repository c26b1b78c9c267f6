// An esbuild plugin for the CLI bundle: node modules most commands never touch (crypto,
// child_process, http, zlib, ...) are required when a member is first read, not when the
// bundle starts. The bundled code imports them at its top (commander requires
// child_process; image-format's digests import crypto), and loading them costs 1-7 ms
// each of every command's start-up; `berth ps` needs http, `berth --help` none of them.
import { builtinModules, createRequire } from 'node:module';

interface ResolveArgs {
  path: string;
  namespace: string;
  importer: string;
}
interface LoadArgs {
  path: string;
}
interface PluginBuild {
  onResolve(options: { filter: RegExp; namespace?: string }, callback: (args: ResolveArgs) => { path: string; namespace?: string; external?: boolean } | undefined): void;
  onLoad(options: { filter: RegExp; namespace: string }, callback: (args: LoadArgs) => { contents: string; loader: 'js' }): void;
}

/** Loaded at node's start anyway (fs, path, events, stream...): nothing to gain. */
const LAZY = ['child_process', 'crypto', 'dgram', 'dns', 'fs/promises', 'http', 'https', 'net', 'os', 'readline', 'stream/promises', 'tty', 'zlib'];

const require = createRequire(import.meta.url);

/**
 * A module whose every export is a getter that requires the real module on first use.
 * The export names are the build's node's; the CLI only uses names Node 20 has.
 */
function lazyModule(name: string): string {
  const keys = Object.keys(require(name) as object).filter((k) => k !== 'default');
  const getters = keys.map((k) => `  ${JSON.stringify(k)}: { enumerable: true, get: () => load()[${JSON.stringify(k)}] },`).join('\n');
  return [
    'let real;',
    `const load = () => (real ??= require(${JSON.stringify(name)}));`,
    `Object.defineProperties(module.exports, {\n${getters}\n});`,
    '',
  ].join('\n');
}

export const lazyBuiltins = {
  name: 'lazy-builtins',
  setup(build: PluginBuild) {
    const names = LAZY.filter((m) => builtinModules.includes(m));
    const filter = new RegExp(`^(node:)?(${names.map((n) => n.replace('/', '\\/')).join('|')})$`);
    build.onResolve({ filter }, (args) => {
      // the lazy module's own require is of the real module
      if (args.namespace === 'lazy-builtin') return { path: args.path, external: true };
      // the launcher requires what it needs where it needs it already
      if (/[\\/]src[\\/]launcher\.ts$/.test(args.importer)) return undefined;
      return { path: args.path.replace(/^node:/, ''), namespace: 'lazy-builtin' };
    });
    build.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, (args) => ({ contents: lazyModule(args.path), loader: 'js' }));
  },
};
