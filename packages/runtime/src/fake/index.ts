/**
 * @berth/runtime/fake — in-memory drivers for tests that need no root: `FakeDriver`
 * (RuntimeDriver: simulated programs, logs in memory) and `FakeNetworkDriver`
 * (NetworkDriver: bookkeeping only). Both pass the conformance suites of
 * `@berth/runtime/testsuite`.
 */
export { FakeDriver, type FakeDriverOptions } from './driver.js';
export { FakeNetworkDriver, type FakeNetworkDriverOptions } from './network.js';
export type { FakeProcess } from './process.js';
export { Pipe, ProcessExit } from './process.js';
export { builtinProgram, type FakeProgram } from './programs.js';
export type { FakeUser } from './users.js';
export { suitePrograms } from './suite-programs.js';
