import type { UserConfig } from 'vitest/config';
export declare function berthVitest(overrides?: UserConfig): UserConfig;
