#!/usr/bin/env node
// The README's test command: build every package, typecheck them (tsup's builds do not),
// run every suite in one vitest run, and close with the totals line that CI counts:
// `N passed, M failed` (a failed typecheck counts as one failure).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const outDir = join(root, '.test-results');
const outFile = join(outDir, 'vitest.json');
rmSync(outDir, { recursive: true, force: true });
mkdirSync(outDir, { recursive: true });

const env = { ...process.env, TURBO_TELEMETRY_DISABLED: '1' };
const build = spawnSync('pnpm', ['exec', 'turbo', 'run', 'build', '--output-logs=errors-only'], {
  cwd: root,
  stdio: 'inherit',
  env,
});
if (build.status !== 0) {
  console.log('build failed');
  console.log('0 passed, 1 failed');
  process.exit(1);
}

const typecheck = spawnSync('pnpm', ['exec', 'turbo', 'run', 'typecheck', '--output-logs=errors-only'], {
  cwd: root,
  stdio: 'inherit',
  env,
});
if (typecheck.status !== 0) console.log('typecheck failed');

const args = ['exec', 'vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${outFile}`];
const test = spawnSync('pnpm', [...args, ...process.argv.slice(2)], { cwd: root, stdio: 'inherit', env });

let passed = 0;
let failed = 0;
if (existsSync(outFile)) {
  const report = JSON.parse(readFileSync(outFile, 'utf8'));
  passed = report.numPassedTests ?? 0;
  failed = report.numFailedTests ?? 0;
  // A file that fails to load has no tests of its own: count it as one failure.
  for (const file of report.testResults ?? []) {
    if (file.status === 'failed' && (file.assertionResults ?? []).length === 0) failed += 1;
  }
} else {
  failed = 1;
}
if (test.status !== 0 && failed === 0) failed = 1;
if (typecheck.status !== 0) failed += 1;
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 && test.status === 0 ? 0 : 1);
