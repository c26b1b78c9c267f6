import { copyFileSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { berthTsup } from '@berth/config/tsup';

const BERTHD_NODE_COMMAND = 'MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=131072 MALLOC_TRIM_THRESHOLD_=131072 node --max-semi-space-size=1 --single-threaded';

// better-sqlite3 is bundled too, and its native addon (built here by pnpm install) is
// copied to dist/native/ under a name that says which Node it is for: an installed berthd
// then needs no compiler, downloads nothing and runs no install script. build/sqlite-bindings.cjs
// stands in for `bindings` and loads it; other platforms get a message saying what to do.
const require = createRequire(import.meta.url);
const sqliteDir = dirname(require.resolve('better-sqlite3/package.json'));
const sqliteVersion = (JSON.parse(readFileSync(join(sqliteDir, 'package.json'), 'utf8')) as { version: string }).version;
const addonTag = `${process.platform}-${process.arch}-${process.versions.modules}`;
const addonFile = join(sqliteDir, 'build/Release/better_sqlite3.node');

/**
 * The C and C++ runtimes the addon needs, read from the symbol versions it was linked
 * against (the newest GLIBC_x.y and GLIBCXX_3.4.z it names): what berthd's message states.
 */
function addonLibc(): string {
  const text = readFileSync(addonFile).toString('latin1');
  const newest = (re: RegExp): string | undefined =>
    [...text.matchAll(re)].map((m) => m[1]!).sort((a, b) => a.localeCompare(b, 'en', { numeric: true })).pop();
  const glibc = newest(/GLIBC_(\d+\.\d+(?:\.\d+)?)\0/g);
  const glibcxx = newest(/GLIBCXX_(\d+\.\d+\.\d+)\0/g);
  return `glibc ${glibc ?? '?'} or later${glibcxx ? ` and libstdc++ GLIBCXX_${glibcxx}` : ''}`;
}

/** The CRI chunk reads `../proto/runtime-v1.proto` from its own place: dist/../proto. */
function copyCriProto(): void {
  const proto = fileURLToPath(new URL('../../packages/cri/proto', import.meta.url));
  mkdirSync('proto', { recursive: true });
  for (const f of readdirSync(proto)) copyFileSync(join(proto, f), join('proto', f));
}

function copyAddon(): void {
  mkdirSync('dist/native', { recursive: true });
  copyFileSync(addonFile, `dist/native/better_sqlite3-${addonTag}.node`);
}

// One self-contained executable: every @berth/* package is bundled in; npm dependencies
// (fastify, commander) stay external and resolve from the app's node_modules. `undici` and
// `tar-stream` are replaced by shims that load them on first use (src/bundle/lazy-*.ts):
// an idle berthd needs neither.
export default berthTsup({
  entry: { berthd: 'src/main.ts', index: 'src/index.ts' },
  // @berth/cri too, with gRPC and protobufjs (whose install script an installed CLI must not
  // run), in a chunk of its own loaded only when berthd serves the CRI; its .proto is copied
  // to where the chunk looks for it.
  noExternal: [/^@berth\//, /^@grpc\//, /^protobufjs/, /^@protobufjs\//, /^long$/, /^lodash\.camelcase$/, /^undici$/, /^tar-stream$/, /^better-sqlite3$/, /^bindings$/], // so that the aliases below apply
  // koffi (the HCS binding's FFI, a native addon) is loaded from node_modules on Windows only
  external: [/\.node$/, 'koffi'],
  // the CRI (and gRPC) in a chunk of their own, loaded only when berthd serves the CRI
  splitting: true,
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
  // The `require` after it serves the bundled CommonJS (better-sqlite3) in this ES module.
  banner: ({ format }) =>
    format === 'esm'
      ? {
          js: `#!/usr/bin/env -S ${BERTHD_NODE_COMMAND}\nimport { createRequire as __berthCreateRequire } from 'node:module';\nconst require = __berthCreateRequire(import.meta.url);`,
        }
      : {},
  define: {
    __BERTH_SQLITE_SHIPPED__: JSON.stringify(addonTag),
    __BERTH_SQLITE_VERSION__: JSON.stringify(sqliteVersion),
    __BERTH_SQLITE_LIBC__: JSON.stringify(addonLibc()),
  },
  esbuildOptions(options) {
    options.alias = {
      ...options.alias,
      undici: fileURLToPath(new URL('./src/bundle/lazy-undici.ts', import.meta.url)),
      'tar-stream': fileURLToPath(new URL('./src/bundle/lazy-tar-stream.ts', import.meta.url)),
      bindings: fileURLToPath(new URL('./build/sqlite-bindings.cjs', import.meta.url)),
    };
  },
  onSuccess: async () => {
    copyAddon();
    copyCriProto();
  },
});
