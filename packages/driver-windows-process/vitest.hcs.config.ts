// `pnpm run test:hcs`: the conformance suite against this host's real HCS (Windows only;
// .github/workflows/windows.yml runs it on windows-2022). The default `test` never includes it.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: { conditions: ['source'] },
  ssr: { resolve: { conditions: ['source'] } },
  test: { include: ['test/**/*.hcs.ts'], testTimeout: 300_000, hookTimeout: 600_000, pool: 'forks' },
});
