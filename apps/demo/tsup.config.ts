import { defineConfig } from 'tsup';

// Two builds: the Node side (the demo process and the worker process entry) and the browser
// side (one IIFE, no framework), copied next to the static files in dist/web.
export default defineConfig([
  {
    entry: { main: 'src/main.ts', worker: 'src/workers/worker-main.ts' },
    format: ['esm'],
    platform: 'node',
    target: 'node20',
    sourcemap: true,
    clean: false, // the build script empties dist first: two configs cleaning at once would race
    outDir: 'dist',
  },
  {
    entry: { app: 'src/web/app.ts' },
    format: ['iife'],
    platform: 'browser',
    target: 'es2022',
    sourcemap: true,
    clean: false,
    outDir: 'dist/web',
    publicDir: 'src/web/public',
    outExtension: () => ({ js: '.js' }),
  },
]);
