import { mkdtemp, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'tsup';

const pkg = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * Bundles the member entry from the current sources (so the test never runs a stale dist/) into
 * a temp dir inside packages/server/node_modules, where the bundle's external dependencies (ws,
 * pino) resolve. @conclave/core is bundled from its sources.
 */
export async function buildMemberEntry(
  extra: Record<string, string> = {},
): Promise<{ entry: string; outDir: string; remove: () => Promise<void> }> {
  const outDir = await mkdtemp(join(pkg, 'node_modules', '.ensemble-test-'));
  await build({
    config: false,
    // `extra`: more entries (name → source path) bundled the same way, e.g. test fixtures.
    entry: { 'member-main': join(pkg, 'src', 'ensemble', 'member-main.ts'), ...extra },
    outDir,
    format: ['esm'],
    platform: 'node',
    target: 'node20',
    dts: false,
    sourcemap: false,
    silent: true,
    clean: false,
    splitting: false,
    external: ['ws', 'pino'],
    noExternal: ['@conclave/core', 'cbor-x'],
    esbuildOptions(o) {
      o.conditions = ['source'];
    },
  });
  return {
    entry: join(outDir, 'member-main.js'),
    outDir,
    remove: () => rm(outDir, { recursive: true, force: true }),
  };
}
