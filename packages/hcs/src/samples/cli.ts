/* `pnpm --filter @berth/hcs samples <dir>`: writes the documents of samples/cases.ts into <dir>. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { generateSamples } from './cases.js';

const dir = process.argv[2];
if (!dir) {
  process.stderr.write('usage: pnpm --filter @berth/hcs samples <dir>\n');
  process.exit(2);
}
// pnpm runs the script in the package folder: a relative dir is the caller's
const out = resolve(process.env.INIT_CWD ?? process.cwd(), dir);
mkdirSync(out, { recursive: true });
for (const [name, doc] of Object.entries(generateSamples())) {
  writeFileSync(join(out, name), `${JSON.stringify(doc, null, 2)}\n`);
  process.stdout.write(`${join(out, name)}\n`);
}
