/*
 * The fakes run the same conformance suites as the real drivers, without root: the
 * runtime suite (logs cases included) on FakeDriver, the network suite on FakeNetworkDriver.
 */
import { randomBytes } from 'node:crypto';
import { runConformanceSuite, runNetworkConformanceSuite } from '../src/testsuite/index.js';
import { FakeDriver, FakeNetworkDriver, suitePrograms } from '../src/fake/index.js';

// a stand-in for /bin/busybox: big, binary, every byte value
const busybox = randomBytes(300_000);

runConformanceSuite('fake', () => new FakeDriver({ programs: suitePrograms, files: { '/bin/busybox': busybox } }), {
  rootfs: async () => ({ path: '/nonexistent-fake-rootfs' }),
  baseSpec: { network: { mode: 'none' } },
  reopen: (closed) => (closed as FakeDriver).reopen(),
});

let subnets = 0;
runNetworkConformanceSuite('fake', () => new FakeNetworkDriver(), {
  subnet: async () => `10.77.${subnets++}.0/24`,
  resolve: async (driver, containerId, name) => (driver as FakeNetworkDriver).lookup(containerId, name),
  leftover: async (driver, containerId) => (driver as FakeNetworkDriver).cleaningUp(containerId),
});
