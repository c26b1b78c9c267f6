import { berthTsup } from '@berth/config/tsup';

export default berthTsup({ entry: { index: 'src/index.ts' } });
