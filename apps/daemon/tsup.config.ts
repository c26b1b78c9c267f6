import { fileURLToPath } from 'node:url';
import { berthTsup } from '@berth/config/tsup';

// One self-contained executable: every @berth/* package is bundled in; npm dependencies
// (fastify, commander, better-sqlite3 with its native addon) stay external and resolve
// from the app's node_modules. `undici` is replaced by a shim that loads it on first use
// (src/bundle/lazy-undici.ts): an idle berthd never talks to a registry.
export default berthTsup({
  entry: { berthd: 'src/main.ts', index: 'src/index.ts' },
  noExternal: [/^@berth\//, /^undici$/], // undici: so that the alias below applies
  dts: { entry: { index: 'src/index.ts' } },
  // 1 MiB semi-spaces: V8 otherwise grows the young generation to 3 x 16 MiB during start-up
  // and keeps it committed (~14 MB of an idle berthd's RSS). The flag is read only when the
  // heap is created, so it has to be on the command line (`node --max-semi-space-size=1
  // dist/berthd.js` when started through node).
  banner: ({ format }) => (format === 'esm' ? { js: '#!/usr/bin/env -S node --max-semi-space-size=1' } : {}),
  esbuildOptions(options) {
    options.alias = { ...options.alias, undici: fileURLToPath(new URL('./src/bundle/lazy-undici.ts', import.meta.url)) };
  },
});
