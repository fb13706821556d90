import type { Options } from 'tsup';

/**
 * The tsup options every package under packages/ shares: ESM + CJS for Node 20 with declarations
 * and source maps. Build-time only: each package's tsup.config.ts calls {@link packageTsupConfig}
 * with its entries; no published file imports this one.
 */
export const sharedTsupOptions = {
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
} satisfies Options;

/** The shared options with a package's own on top; the package's keys win. */
export function packageTsupConfig(own: Options & Required<Pick<Options, 'entry'>>): Options {
  return { ...sharedTsupOptions, ...own };
}
