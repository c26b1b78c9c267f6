import type { Options } from 'tsup';
export declare function berthTsup(overrides?: Options): Options | Options[];
