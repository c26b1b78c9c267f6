// Run by pull-crash.test.ts in a child process: opens an engine on argv[2]/argv[3], pulls
// argv[4] and prints every progress status as a line, until it is killed.
import { Engine } from '../src/index.js';
import { linuxDriverSet } from '@berth/driver-linux';

const [root, runRoot, ref] = process.argv.slice(2);
const engine = await Engine.open({ drivers: linuxDriverSet,  root: root!, runRoot: runRoot! });
await engine.images.pull(ref!, { onProgress: (m) => process.stdout.write(`${m.status ?? ''}\n`) });
process.stdout.write('PULLED\n');
setInterval(() => undefined, 1 << 30);
