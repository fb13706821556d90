import { execFileSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const packages = fileURLToPath(new URL('../../', import.meta.url));

function newest(dir: string): number {
  let t = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    t = Math.max(t, entry.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

function stale(pkg: string): boolean {
  try {
    return statSync(join(packages, pkg, 'dist', 'index.js')).mtimeMs < newest(join(packages, pkg, 'src'));
  } catch {
    return true;
  }
}

/**
 * Child processes run built JS: (re)build core, client and recipes when their dist is missing or
 * older than their sources. In CI `pnpm test` has built them already, so this is a no-op there.
 */
export function buildForChildProcesses(): void {
  for (const pkg of ['core', 'client', 'recipes']) {
    if (stale(pkg))
      execFileSync('npx', ['tsup'], { cwd: join(packages, pkg), stdio: 'ignore', timeout: 120_000 });
  }
}
