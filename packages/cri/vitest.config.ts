import { berthVitest } from '@berth/config/vitest';

export default berthVitest();
