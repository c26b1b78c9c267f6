// Child process for survival.test.ts and namespace-holder.test.ts: creates and starts a container, reports, then
// idles until it is SIGKILLed by the test.
import { LinuxDriver } from '../src/index.js';

const [stateDir, rootfs, id, runtime, mode] = process.argv.slice(2) as [string, string, string, string, string | undefined];
const driver = new LinuxDriver({ stateDir, runtime });
await driver.create({
  id,
  rootfs: { path: rootfs },
  process: { args: ['sh', '-c', 'echo hello-from-detached; trap "echo bye; exit 7" TERM; while true; do sleep 0.1; done'] },
  network: { mode: 'none' },
  // 'holder' mode: a pod sandbox's namespace holder (the driver's pause)
  ...(mode === 'holder' ? { namespaceHolder: true } : {}),
});
await driver.start(id);
process.stdout.write(`started ${process.pid}\n`);
// 'exit' mode: end normally; nothing the driver holds may keep this process alive
if (mode !== 'exit') setInterval(() => undefined, 1000);
