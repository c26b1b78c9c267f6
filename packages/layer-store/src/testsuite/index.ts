// Contract suites and test helpers for other implementations and packages' tests (vitest,
// run from source: this entry is exported under the `source` condition only).
export { contentStoreSuite, type ContentStoreHarness } from './content.js';
export { snapshotterSuite } from './snapshotter.js';
export { buildLayer, buildTar, type TestEntry, type TestLayer } from './layers.js';
export { describeTree, type TreeEntry } from './tree.js';
export { hostileCorpus, outsideState, type HostileCase } from './hostile.js';
