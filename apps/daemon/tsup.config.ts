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
  banner: ({ format }) => (format === 'esm' ? { js: '#!/usr/bin/env node' } : {}),
  esbuildOptions(options) {
    options.alias = { ...options.alias, undici: fileURLToPath(new URL('./src/bundle/lazy-undici.ts', import.meta.url)) };
  },
});
