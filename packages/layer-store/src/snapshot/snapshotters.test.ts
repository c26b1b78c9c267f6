import { snapshotterSuite } from '../testsuite/snapshotter.js';
import { NativeSnapshotter } from './native.js';
import { OverlaySnapshotter } from './overlay.js';

snapshotterSuite('overlay', (root) => OverlaySnapshotter.open(root));
snapshotterSuite('native', (root) => NativeSnapshotter.open(root));
