import type { Options } from 'tsup';

type EsbuildPlugin = NonNullable<Options['esbuildPlugins']>[number];

/**
 * Runtime dependencies that ship only ES modules (p-retry 7 and what it imports). Node 20 before
 * 20.19 cannot `require()` an ES module (ERR_REQUIRE_ESM), and our engines field says >=20, so the
 * CommonJS build bundles them; the ESM build keeps importing them (deduplicated by the package
 * manager). A new ESM-only dependency goes here; packages/cli/test/dist-smoke.test.ts catches a
 * forgotten one by requiring every dist/index.cjs with require(esm) turned off.
 */
export const esmOnlyDependencies: readonly string[] = ['p-retry', 'is-network-error'];

/** True when `id` is `dep` or a subpath of it (`dep/x`). */
function isOrUnder(id: string, dep: string): boolean {
  return id === dep || id.startsWith(`${dep}/`);
}

/**
 * tsup's `noExternal` applies to every format. With the ESM-only dependencies in `noExternal`,
 * this plugin (which runs after tsup's external plugin) marks them external again in the ESM build
 * only, so just the CJS build bundles them.
 */
const esmOnlyExternalInEsm: EsbuildPlugin = {
  name: 'conclave-esm-only-external-in-esm',
  setup(build) {
    if (build.initialOptions.format !== 'esm') return;
    build.onResolve({ filter: /^[^./]/ }, (args) =>
      esmOnlyDependencies.some((dep) => isOrUnder(args.path, dep))
        ? { path: args.path, external: true }
        : undefined,
    );
  },
};

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
  noExternal: [...esmOnlyDependencies],
  esbuildPlugins: [esmOnlyExternalInEsm],
} satisfies Options;

/** The shared options with a package's own on top; the package's keys win. */
export function packageTsupConfig(own: Options & Required<Pick<Options, 'entry'>>): Options {
  return { ...sharedTsupOptions, ...own };
}
