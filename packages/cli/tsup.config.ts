import { defineConfig } from 'tsup';
import { packageTsupConfig } from '../../tsup.shared.js';

// Shared options (esm+cjs, sourcemap, clean, node20) live in the root file. Declarations only for
// the library entry: bin.ts is the executable.
export default defineConfig(
  packageTsupConfig({ entry: ['src/index.ts', 'src/bin.ts'], dts: { entry: 'src/index.ts' } }),
);
