import { afterAll } from 'vitest';
import { runConformanceSuite } from '@berth/runtime/testsuite';
import { LinuxDriver } from '../src/index.js';
import { makeSandbox } from './helpers.js';

const sandbox = await makeSandbox('conf-runc');
afterAll(() => sandbox.cleanup());

runConformanceSuite('linux/runc', () => new LinuxDriver({ stateDir: sandbox.stateDir, runtime: 'runc' }), {
  rootfs: () => sandbox.rootfs(),
  baseSpec: { network: { mode: 'none' } },
});
