// Root config: one vitest run over every package's own config, so CI gets one summary.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: ['packages/*', 'apps/*', 'tooling/fixtures', 'tooling/bench', 'tooling/release'],
  },
});
