// Run by restart.test.ts in a child process: opens an engine on argv[2] (root) and argv[3]
// (runRoot), starts the containers described by argv[4] (JSON list of create bodies),
// prints their IDs as one JSON line, then idles until it is killed.
import { Engine } from '../src/index.js';
import type { ContainerCreateBody } from '../src/index.js';
import { linuxDriverSet } from '@berth/driver-linux';

const [root, runRoot, bodiesJson] = process.argv.slice(2);
const engine = await Engine.open({ drivers: linuxDriverSet,  root: root!, runRoot: runRoot! });
await engine.images.ensureBuiltin('busybox');
const ids: string[] = [];
for (const body of JSON.parse(bodiesJson!) as ContainerCreateBody[]) {
  const { Id } = await engine.containers.create(body);
  await engine.containers.start(Id);
  ids.push(Id);
}
process.stdout.write(JSON.stringify(ids) + '\n');
setInterval(() => undefined, 1 << 30);
