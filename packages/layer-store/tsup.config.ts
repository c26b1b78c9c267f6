import { berthTsup } from '@berth/config/tsup';

// `archive` on its own: the extractor and resolver without the store (and its sqlite binding).
export default berthTsup({
  entry: { index: 'src/index.ts', archive: 'src/archive/index.ts', testsuite: 'src/testsuite/index.ts' },
  external: ['vitest'],
});
