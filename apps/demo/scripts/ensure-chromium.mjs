// The demo's browser test drives Debian's chromium (no browser download is possible on our
// machines). `pnpm test` must set up everything it needs on a fresh machine, so when chromium is
// missing and we can install it (root with apt-get), we do; otherwise we say exactly what to run.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const CHROMIUM = '/usr/bin/chromium';
if (!existsSync(CHROMIUM)) {
  const canInstall = process.getuid?.() === 0 && existsSync('/usr/bin/apt-get');
  if (!canInstall) {
    console.error(
      `${CHROMIUM} is missing: install it with \`sudo apt-get install -y chromium\`, then re-run.`,
    );
    process.exit(1);
  }
  console.log('chromium is missing: installing it with apt-get (once) for the demo browser test…');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-qq', 'chromium'], { stdio: 'inherit', env });
}
