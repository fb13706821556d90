import { execFile, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

/**
 * The published builds, loaded as users load them: every package's dist/index.cjs through
 * require() with require(esm) turned off (Node 20.0-20.18 have none: an ESM-only dependency left
 * external in a CJS build throws ERR_REQUIRE_ESM there), and every dist/index.js through import().
 * Each run checks a few exports and does a server + client round trip from the builds.
 */

const here = dirname(fileURLToPath(import.meta.url));
const packagesDir = join(here, '..', '..');
const FIXTURE = join(here, 'fixtures', 'dist-smoke.cjs');
const PACKAGES = ['core', 'client', 'server', 'recipes', 'cli'] as const;

/** A few exports per package, and what they must be. */
const EXPECTED: Record<(typeof PACKAGES)[number], Record<string, string>> = {
  core: {
    ConclaveError: 'function',
    NoNodeError: 'function',
    validatePath: 'function',
    encodeFrame: 'function',
    OPEN_ACL_UNSAFE: 'object',
  },
  client: { connect: 'function', ConclaveClient: 'function', parseConnectString: 'function' },
  server: { startServer: 'function', startEnsemble: 'function' },
  recipes: {
    Mutex: 'function',
    LeaderElection: 'function',
    ConfigValue: 'function',
    DistributedQueue: 'function',
  },
  cli: { main: 'function', buildProgram: 'function', runVerb: 'function' },
};

/** Node 20.17+ knows the flag (and 20.19+ enables require(esm) by default); older Node 20s have no require(esm). */
const NO_REQUIRE_ESM = process.allowedNodeEnvironmentFlags.has('--no-experimental-require-module')
  ? ['--no-experimental-require-module']
  : [];

/**
 * `pnpm test` builds every package first (turbo; cli#test waits for recipes#build too). Run alone,
 * build the packages that have no dist yet; a stale dist is tested as it is (rebuild it yourself).
 */
function ensureBuilt(): void {
  const missing = PACKAGES.filter((p) => !existsSync(join(packagesDir, p, 'dist', 'index.cjs')));
  if (missing.length === 0) return;
  const filters = missing.flatMap((p) => ['--filter', `@conclave/${p}...`]);
  execFileSync('pnpm', [...filters, 'build'], { cwd: packagesDir, stdio: 'ignore' });
}

interface SmokeResult {
  exports: Record<string, Record<string, string>>;
  roundTrip: { data: string; sameCore: boolean };
}

function runFixture(nodeArgs: string[], mode: 'require' | 'import'): Promise<SmokeResult> {
  const names = Object.fromEntries(PACKAGES.map((p) => [p, Object.keys(EXPECTED[p])]));
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [...nodeArgs, FIXTURE, mode, JSON.stringify(names)],
      { timeout: 60_000 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`node ${mode} of the dist builds failed: ${err.message}\n${stderr}`));
        else resolve(JSON.parse(stdout) as SmokeResult);
      },
    );
  });
}

beforeAll(() => ensureBuilt(), 300_000);

describe('dist builds', () => {
  it('ship ESM, CJS and both declaration files for every package', () => {
    for (const p of PACKAGES) {
      for (const f of ['index.js', 'index.cjs', 'index.d.ts', 'index.d.cts']) {
        expect(existsSync(join(packagesDir, p, 'dist', f)), `${p}/dist/${f}`).toBe(true);
      }
    }
  });

  it('load with require() without require(esm), and a client talks to a server', async () => {
    const result = await runFixture(NO_REQUIRE_ESM, 'require');
    expect(result.exports).toEqual(EXPECTED);
    expect(result.roundTrip).toEqual({ data: 'ok', sameCore: true });
  }, 90_000);

  it('load with import(), and a client talks to a server', async () => {
    const result = await runFixture([], 'import');
    expect(result.exports).toEqual(EXPECTED);
    expect(result.roundTrip).toEqual({ data: 'ok', sameCore: true });
  }, 90_000);
});
