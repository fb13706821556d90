import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // One end-to-end test: a 3-member ensemble, 4 workers and a real browser on 2 busy cores.
    testTimeout: 150_000,
    hookTimeout: 60_000,
  },
});
