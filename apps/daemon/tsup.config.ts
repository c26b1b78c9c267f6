import { fileURLToPath } from 'node:url';
import { berthTsup } from '@berth/config/tsup';

// One self-contained executable: every @berth/* package is bundled in; npm dependencies
// (fastify, commander, better-sqlite3 with its native addon) stay external and resolve
// from the app's node_modules. `undici` and `tar-stream` are replaced by shims that load
// them on first use (src/bundle/lazy-*.ts): an idle berthd needs neither.
export default berthTsup({
  entry: { berthd: 'src/main.ts', index: 'src/index.ts' },
  noExternal: [/^@berth\//, /^undici$/, /^tar-stream$/], // so that the aliases below apply
  dts: { entry: { index: 'src/index.ts' } },
  // 1 MiB semi-spaces: V8 otherwise grows the young generation to 3 x 16 MiB during start-up
  // and keeps it committed (~14 MB of an idle berthd's RSS). The flag is read only when the
  // heap is created, so it has to be on the command line (`node --max-semi-space-size=1
  // dist/berthd.js` when started through node).
  banner: ({ format }) => (format === 'esm' ? { js: '#!/usr/bin/env -S node --max-semi-space-size=1' } : {}),
  esbuildOptions(options) {
    options.alias = {
      ...options.alias,
      undici: fileURLToPath(new URL('./src/bundle/lazy-undici.ts', import.meta.url)),
      'tar-stream': fileURLToPath(new URL('./src/bundle/lazy-tar-stream.ts', import.meta.url)),
    };
  },
});
