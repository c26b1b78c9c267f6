import { berthTsup } from '@berth/config/tsup';

export default berthTsup();
