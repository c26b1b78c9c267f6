import { afterAll } from 'vitest';
import { runConformanceSuite } from '@berth/runtime/testsuite';
import { LinuxDriver } from '../src/index.js';
import { makeSandbox } from './helpers.js';

const sandbox = await makeSandbox('conf-crun');
afterAll(() => sandbox.cleanup());

runConformanceSuite('linux/crun', () => new LinuxDriver({ stateDir: sandbox.stateDir, runtime: 'crun' }), {
  rootfs: () => sandbox.rootfs(),
  baseSpec: { network: { mode: 'none' } },
});
