import { createRequire, syncBuiltinESMExports } from 'node:module';

// node:child_process as every importer sees it (builtins' ESM exports follow the CJS object
// once synced): counts what is spawned from this thread while `fn` runs.
const childProcess = createRequire(import.meta.url)('node:child_process') as Record<string, unknown>;
const SPAWNERS = ['spawn', 'spawnSync', 'execFile', 'execFileSync', 'exec', 'execSync'];

/** Runs `fn`, listing each process spawned from the calling thread meanwhile (`spawnSync mknod`). */
export async function countingMainThreadSpawns<T>(fn: () => Promise<T>): Promise<{ result: T; spawned: string[] }> {
  const spawned: string[] = [];
  const saved = SPAWNERS.map((n) => [n, childProcess[n]] as const);
  for (const [n, f] of saved) {
    childProcess[n] = (...args: unknown[]) => {
      spawned.push(`${n} ${String(args[0])}`);
      return (f as (...a: unknown[]) => unknown)(...args);
    };
  }
  syncBuiltinESMExports();
  try {
    return { result: await fn(), spawned };
  } finally {
    for (const [n, f] of saved) childProcess[n] = f;
    syncBuiltinESMExports();
  }
}
