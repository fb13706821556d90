import { defineConfig } from 'vitest/config';

// 'source' resolves workspace packages to their TypeScript sources, so tests never run stale builds.
export default defineConfig({
  resolve: { conditions: ['source'] },
  ssr: { resolve: { conditions: ['source'] } },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
