#!/usr/bin/env node
// `pnpm bench`: runs every package's bench scripts (packages/*/bench/*.ts, apps/*/bench/*.ts)
// one after another (they compete for the same 2 cores otherwise), from src via the
// `source` condition, and repeats the lines that carry ratios at the end.
// Usage: pnpm bench [filter]   e.g. `pnpm bench layer-store`
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('../..', import.meta.url).pathname;
const filter = process.argv[2] ?? '';
const scripts = [];
for (const group of ['packages', 'apps', 'tooling']) {
  for (const pkg of readdirSync(join(root, group)).sort()) {
    const dir = join(root, group, pkg, 'bench');
    if (!existsSync(dir)) continue;
    for (const f of readdirSync(dir).sort()) {
      if (f.endsWith('.ts') && !f.endsWith('.d.ts')) scripts.push(join(dir, f));
    }
  }
}
const chosen = scripts.filter((s) => relative(root, s).includes(filter));
if (chosen.length === 0) {
  console.error(`bench: no bench scripts match "${filter}"`);
  process.exit(1);
}
const summary = [];
let failures = 0;
for (const script of chosen) {
  const name = relative(root, script);
  console.log(`\n=== ${name}`);
  const r = spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', script], {
    cwd: join(script, '..', '..'),
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 64 * 1024 * 1024,
  });
  process.stdout.write(r.stdout ?? '');
  if (r.status !== 0) {
    failures++;
    summary.push(`${name}: FAILED (exit ${r.status})`);
  }
  for (const line of (r.stdout ?? '').split('\n')) {
    if (/ratio|target|median/i.test(line)) summary.push(`${name}: ${line.trim()}`);
  }
}
console.log('\n=== summary');
for (const line of summary) console.log(line);
process.exit(failures ? 1 : 0);
