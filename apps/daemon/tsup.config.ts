import { berthTsup } from '@berth/config/tsup';

// One self-contained executable: every @berth/* package is bundled in; npm dependencies
// (fastify, commander, better-sqlite3 with its native addon) stay external and resolve
// from the app's node_modules.
export default berthTsup({
  entry: { berthd: 'src/main.ts', index: 'src/index.ts' },
  noExternal: [/^@berth\//],
  dts: { entry: { index: 'src/index.ts' } },
  banner: ({ format }) => (format === 'esm' ? { js: '#!/usr/bin/env node' } : {}),
});
