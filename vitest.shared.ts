import { defineConfig, mergeConfig, type ViteUserConfig } from 'vitest/config';

/**
 * The vitest settings every package under packages/ shares. Build-time only: each package's
 * vitest.config.ts calls {@link packageVitestConfig}; no published file imports this one.
 */
export const sharedVitestConfig = defineConfig({
  // 'source' resolves workspace packages to their TypeScript sources, so tests never run stale builds.
  resolve: { conditions: ['source'] },
  ssr: { resolve: { conditions: ['source'] } },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});

/** The shared settings with a package's own on top (vitest's `mergeConfig`: arrays concatenate). */
export function packageVitestConfig(own: ViteUserConfig = {}): ViteUserConfig {
  return mergeConfig(sharedVitestConfig, own);
}
