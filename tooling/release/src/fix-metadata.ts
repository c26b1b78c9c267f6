// `pnpm release:fix-metadata`: writes the fields every public package must carry
// (metadata.ts) into each public package.json, so a new package needs one command.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expectedFields, manifestProblems } from './metadata.js';
import { publicPackages, type Manifest } from './workspace.js';

const ORDER = ['name', 'version', 'description', 'type', 'license', 'repository', 'engines', 'sideEffects', 'exports', 'main', 'types', 'bin', 'files'];

for (const pkg of publicPackages()) {
  const m: Manifest = { ...pkg.manifest, ...expectedFields(pkg) };
  m.sideEffects ??= false;
  if (!m.files?.length) m.files = ['dist'];
  const sorted: Record<string, unknown> = {};
  for (const key of ORDER) if (key in m) sorted[key] = m[key];
  for (const [key, value] of Object.entries(m)) if (!(key in sorted)) sorted[key] = value;
  writeFileSync(join(pkg.dir, 'package.json'), `${JSON.stringify(sorted, null, 2)}\n`);
  const left = manifestProblems({ ...pkg, manifest: sorted as Manifest });
  console.log(`${pkg.path}: ${left.length === 0 ? 'ok' : left.join('; ')}`);
}
