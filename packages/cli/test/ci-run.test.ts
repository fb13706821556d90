import { execFile, execFileSync } from 'node:child_process';
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * .ci/run's first check: the demo's browser test needs chromium. As root with apt-get it installs
 * it; otherwise it must stop at once with the command to run, before installing or building
 * anything. `--preflight` runs only the checks; CONCLAVE_CHROMIUM points the check at a path.
 */

const CI_RUN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '.ci', 'run');

/** The absolute path of a command on this machine's PATH. */
function which(cmd: string): string {
  return execFileSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).trim();
}

const BASH = which('bash');
/** A PATH with only what the script needs before the check: no apt-get, so it cannot install. */
let bareBin: string;

beforeAll(async () => {
  bareBin = await mkdtemp(join(tmpdir(), 'conclave-ci-run-'));
  for (const tool of ['dirname', 'id']) await symlink(which(tool), join(bareBin, tool));
});
afterAll(async () => {
  if (bareBin) await rm(bareBin, { recursive: true, force: true });
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function preflight(env: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((resolve) => {
    execFile(BASH, [CI_RUN, '--preflight'], { env, timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
      resolve({ code, stdout, stderr });
    });
  });
}

describe('.ci/run preflight', () => {
  it('fails with the install command when chromium is missing and it cannot install it', async () => {
    const run = await preflight({ PATH: bareBin, CONCLAVE_CHROMIUM: '/nonexistent/chromium' });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('/nonexistent/chromium is missing');
    expect(run.stderr).toContain('sudo apt-get install -y chromium');
    expect(run.stdout).not.toContain('preflight ok');
  });

  it('passes when chromium is there', async () => {
    // Any executable stands in for chromium: the check is only that it exists.
    const run = await preflight({ ...process.env, CONCLAVE_CHROMIUM: process.execPath });
    expect(run).toMatchObject({ code: 0 });
    expect(run.stdout).toContain('preflight ok');
  });
});
