#!/usr/bin/env node
// Lists exports of packages/*/src and apps/*/src that no other file of the workspace
// (sources, tests, benches) names: candidates to un-export (used in their own file only)
// or delete. A package's entry point (src/index.ts) re-exporting a name does not count as
// a use, but the name is reported with "(public)" (so are the declarations of an index.ts and
// of files it re-exports whole) so the package's API can be weighed.
// Usage: node scripts/dead-exports.mjs [path-prefix...]   (default: every package and app)
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const skip = new Set(['node_modules', 'dist', '.turbo', '.git']);
const files = [];
(function walk(dir) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (skip.has(e.name)) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p);
    else if (/\.(ts|mts|mjs|js)$/.test(e.name) && !e.name.endsWith('.d.ts')) files.push(p);
  }
})(root);
const text = new Map(files.map((f) => [f, readFileSync(f, 'utf8')]));
const prefixes = process.argv.slice(2).length ? process.argv.slice(2) : ['packages/', 'apps/'];
// Files a package entry re-exports whole (`export * from`, `export type * from`) are its API.
const starred = new Set();
for (const [f, t] of text) {
  if (!f.endsWith('/index.ts')) continue;
  for (const m of t.matchAll(/^export (?:type )?\* from '(\.[^']+)\.js'/gm)) starred.add(join(f, '..', `${m[1]}.ts`));
}
const declared = /^export\s+(?:declare\s+)?(?:default\s+)?(?:async\s+)?(?:abstract\s+)?(?:function\*?|class|const|let|interface|type|enum)\s+([A-Za-z_$][\w$]*)/gm;

for (const f of files) {
  const rel = relative(root, f);
  if (!prefixes.some((p) => rel.startsWith(p)) || !/\/src\//.test(rel) || /\.test\.|\/test\//.test(rel)) continue;
  for (const m of text.get(f).matchAll(declared)) {
    const name = m[1];
    const word = new RegExp(`\\b${name.replace(/\$/g, '\\$')}\\b`, 'g');
    const users = files.filter((g) => g !== f && word.test(text.get(g)) && ((word.lastIndex = 0), true));
    const real = users.filter((g) => !g.endsWith('/src/index.ts'));
    if (real.length > 0) continue;
    const own = (text.get(f).match(word) ?? []).length - 1;
    const isPublic = users.length > real.length || starred.has(f) || f.endsWith('/index.ts');
    console.log(`${rel}: ${name}${isPublic ? ' (public)' : ''}${own === 0 && !isPublic ? ' (unused: delete)' : ''}`);
  }
}
