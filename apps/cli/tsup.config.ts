import { execFileSync } from 'node:child_process';
import { berthTsup } from '@berth/config/tsup';

function gitCommit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short=7', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

// One self-contained executable: every dependency (the @berth/* packages, commander,
// tar-stream) is bundled in, so dist/berth.js runs from anywhere, symlinked or not.
export default berthTsup({
  entry: { berth: 'src/main.ts' },
  noExternal: [/.*/],
  dts: false,
  minify: false,
  // Bundle the workspace packages from their sources, never from a stale dist.
  esbuildOptions(options) {
    options.conditions = ['source', 'import', 'module', 'default'];
  },
  define: { __BERTH_BUILD__: JSON.stringify(gitCommit()) },
  // commander is CommonJS: give its require() calls a real require.
  banner: { js: "#!/usr/bin/env node\nimport { createRequire as __berthCreateRequire } from 'node:module';\nconst require = __berthCreateRequire(import.meta.url);" },
});
