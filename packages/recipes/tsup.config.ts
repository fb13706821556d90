import { defineConfig } from 'tsup';
import { packageTsupConfig } from '../../tsup.shared.js';

// Shared options (esm+cjs, dts, sourcemap, clean, node20) live in the root file.
export default defineConfig(packageTsupConfig({ entry: ['src/index.ts'] }));
