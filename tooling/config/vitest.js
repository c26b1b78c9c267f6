// Shared vitest preset: run the workspace from src (the `source` export condition),
// so tests never need a prior build of the packages they import.
import { defineConfig, mergeConfig } from 'vitest/config';

const base = defineConfig({
  resolve: { conditions: ['source'] },
  ssr: { resolve: { conditions: ['source'] } },
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    passWithNoTests: true,
  },
});

/** @param {import('vitest/config').UserConfig} [overrides] */
export function berthVitest(overrides = {}) {
  return mergeConfig(base, overrides);
}
