import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// The root package does not depend on the workspace packages, so map them to their TypeScript
// sources here (what the 'source' condition does inside packages/*).
const src = (pkg: string): string =>
  fileURLToPath(new URL(`../packages/${pkg}/src/index.ts`, import.meta.url));

export default defineConfig({
  resolve: {
    conditions: ['source'],
    alias: { '@conclave/core': src('core'), '@conclave/server': src('server') },
  },
  ssr: { resolve: { conditions: ['source'] } },
  test: {
    include: ['**/*.bench.ts'],
    benchmark: { include: ['**/*.bench.ts'] },
    testTimeout: 600_000,
    hookTimeout: 600_000,
  },
});
