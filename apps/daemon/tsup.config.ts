import { fileURLToPath } from 'node:url';
import { berthTsup } from '@berth/config/tsup';

const BERTHD_NODE_COMMAND = 'MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=131072 MALLOC_TRIM_THRESHOLD_=131072 node --max-semi-space-size=1 --single-threaded';

// One self-contained executable: every @berth/* package but @berth/cri is bundled in (the
// CRI server, gRPC with it, is imported only when berthd serves the CRI); npm dependencies
// (fastify, commander, better-sqlite3 with its native addon) stay external and resolve
// from the app's node_modules. `undici` and `tar-stream` are replaced by shims that load
// them on first use (src/bundle/lazy-*.ts): an idle berthd needs neither.
export default berthTsup({
  entry: { berthd: 'src/main.ts', index: 'src/index.ts' },
  noExternal: [/^@berth\/(?!cri$)/, /^undici$/, /^tar-stream$/], // so that the aliases below apply
  dts: { entry: { index: 'src/index.ts' } },
  // Idle memory, decided before the heap exists, so on the command line (launchers that
  // start the bundle through node read these from this line: tooling/bench, the CLI):
  // - 1 MiB semi-spaces: V8 otherwise grows the young generation to 3 x 16 MiB during
  //   start-up and keeps it committed (~14 MB of an idle berthd's RSS);
  // - --single-threaded: no V8 worker threads (their stacks and malloc arenas, ~4 MB); the
  //   heap is small, so main-thread GC costs nothing measurable on `run`;
  // - MALLOC_ARENA_MAX=2: glibc would give every libuv/V8 thread its own arena;
  // - fixed malloc mmap/trim thresholds: glibc otherwise raises them after the first large
  //   buffer is freed, and the main heap then keeps a pull's peak for good (a busybox pull
  //   left berthd at 113 MiB instead of 81).
  banner: ({ format }) => (format === 'esm' ? { js: `#!/usr/bin/env -S ${BERTHD_NODE_COMMAND}` } : {}),
  esbuildOptions(options) {
    options.alias = {
      ...options.alias,
      undici: fileURLToPath(new URL('./src/bundle/lazy-undici.ts', import.meta.url)),
      'tar-stream': fileURLToPath(new URL('./src/bundle/lazy-tar-stream.ts', import.meta.url)),
    };
  },
});
