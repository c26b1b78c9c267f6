import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, resolve, sep } from 'node:path';
import { berthTsup } from '@berth/config/tsup';

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
 * Makes dist/berth.js the one file to ship: the launcher (src/launcher.ts) with the CLI's
 * bundle (berth-main.js) appended as a string it compiles through V8's code cache. Marks
 * the output directory CommonJS (the file keeps its .js name: users and links run it).
 */
function composeOneFile(dir: string): void {
  const main = resolve(dir, 'berth-main.js');
  // no shebang inside the module wrapper; its source map is not shipped
  const source = readFileSync(main, 'utf8').replace(/^#!.*\n/, '').replace(/\n\/\/# sourceMappingURL=.*\n?$/, '\n');
  appendFileSync(resolve(dir, 'berth.js'), `\n__berthMain(${JSON.stringify(source)});\n`);
  for (const f of [main, `${main}.map`]) rmSync(f, { force: true });
  writeFileSync(resolve(dir, 'package.json'), '{ "type": "commonjs" }\n');
}

// One self-contained executable: every dependency (the @berth/* packages, commander,
// tar-stream) is bundled in, so dist/berth.js runs from anywhere, symlinked or not.
export default (cli: { outDir?: string }) => ({
  ...berthTsup({
  // berth.js: the launcher (--version, code cache); berth-main.js: the CLI, appended to it
  entry: { berth: 'src/launcher.ts', 'berth-main': 'src/main.ts' },
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
  esbuildPlugins: [workspaceIsPure],
  }),
  onSuccess: async () => composeOneFile(cli.outDir ?? 'dist'),
});
