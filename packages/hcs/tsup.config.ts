import { berthTsup } from '@berth/config/tsup';

export default berthTsup({
  entry: { index: 'src/index.ts', simulator: 'src/simulator/index.ts', koffi: 'src/koffi/index.ts' },
  external: ['koffi'],
});
