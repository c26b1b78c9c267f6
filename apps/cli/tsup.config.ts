import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, resolve, sep } from 'node:path';
import { berthTsup } from '@berth/config/tsup';
import { lazyBuiltins } from './build/lazy-builtins.js';
import { MODULE_WRAPPER } from './src/module-wrapper.js';

function gitCommit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short=7', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

/**
 * The workspace packages' modules have no import-time side effects, but their
 * package.json files do not say so: tell esbuild, so re-exports the CLI never uses
 * (schemas, OCI layout, archives, their node:crypto/zlib imports) are dropped.
 */
interface ResolveArgs {
  path: string;
  importer: string;
}
interface PluginBuild {
  onResolve(options: { filter: RegExp }, callback: (args: ResolveArgs) => { path: string; sideEffects: boolean } | undefined): void;
}

const workspaceIsPure = {
  name: 'workspace-is-pure',
  setup(build: PluginBuild) {
    build.onResolve({ filter: /^\.\.?\// }, (args) => {
      if (!args.importer.includes(`${sep}packages${sep}`) || !args.importer.includes(`${sep}src${sep}`)) return undefined;
      const base = resolve(dirname(args.importer), args.path);
      for (const candidate of [base.replace(/\.js$/, '.ts'), `${base}.ts`, `${base}/index.ts`]) {
        if (existsSync(candidate)) return { path: candidate, sideEffects: false };
      }
      return undefined;
    });
  },
};

/**
 * dist/berth.js is the launcher (src/launcher.ts); dist/berth-main.js the CLI and
 * dist/berth-ps.js its short `ps` path, both compiled by the launcher through V8's code
 * cache (read as files, not required: no shebang, no source map, which is not shipped,
 * and already in their module wrapper). Marks the output directory CommonJS (the files
 * keep their .js names: users and links run them).
 */
function finishDist(dir: string): void {
  for (const bundle of ['berth-main.js', 'berth-ps.js']) {
    const file = resolve(dir, bundle);
    const body = readFileSync(file, 'utf8').replace(/^#!.*\n/, '').replace(/\n\/\/# sourceMappingURL=.*\n?$/, '\n');
    // wrapped as CommonJS wraps a module, here rather than at each start: the launcher
    // compiles the file's text as it is (a second copy of ~0.5 MB in V8's young generation
    // would cost every command a scavenge)
    writeFileSync(file, `${MODULE_WRAPPER[0]}${body}${MODULE_WRAPPER[1]}`);
    rmSync(`${file}.map`, { force: true });
  }
  writeFileSync(resolve(dir, 'package.json'), '{ "type": "commonjs" }\n');
}

// Self-contained: every dependency (the @berth/* packages, commander, tar-stream) is
// bundled in, so dist/ runs from anywhere, symlinked or not.
export default (cli: { outDir?: string }) => ({
  ...berthTsup({
  // berth.js: the launcher (--version, code cache); berth-main.js: the CLI it runs;
  // berth-ps.js: `ps` alone (src/fast/ps.ts), which falls back to berth-main.js
  entry: { berth: 'src/launcher.ts', 'berth-main': 'src/main.ts', 'berth-ps': 'src/fast/ps.ts' },
  noExternal: [/.*/],
  dts: false,
  minify: false,
  // Bundle the workspace packages from their sources, never from a stale dist.
  esbuildOptions(options) {
    options.conditions = ['source', 'import', 'module', 'default'];
  },
  define: { __BERTH_BUILD__: JSON.stringify(gitCommit()) },
  // CommonJS: node starts a CommonJS main without initialising its ESM loader (~9 ms of
  // every command). dist/package.json says so, as the package itself is "type": "module".
  format: ['cjs'],
  outExtension: () => ({ js: '.js' }),
  banner: { js: '#!/usr/bin/env node' },
  // node:-prefixed imports reach lazyBuiltins (tsup would otherwise mark them external first)
  removeNodeProtocol: false,
  esbuildPlugins: [workspaceIsPure, lazyBuiltins],
  }),
  onSuccess: async () => finishDist(cli.outDir ?? 'dist'),
});
