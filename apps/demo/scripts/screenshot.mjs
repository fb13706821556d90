// Regenerates apps/demo/screenshot.png (the README's picture): starts the built demo, lets it run,
// kills the leader, restarts it, edits the config, provokes a typed error in the znode browser,
// and takes a 1440×1000 screenshot in Debian's Chromium. `pnpm --filter @conclave/demo screenshot`
// (after a build). Usage: node scripts/screenshot.mjs [out.png] [--light]
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const appDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = process.argv.slice(2).find((a) => !a.startsWith('--')) ?? join(appDir, 'screenshot.png');
const light = process.argv.includes('--light');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const demo = spawn(process.execPath, [join(appDir, 'dist', 'main.js'), '--port', '0'], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
let output = '';
demo.stdout.on('data', (d) => {
  output += d;
});
try {
  const deadline = Date.now() + 60_000;
  let url;
  while (!(url = /dashboard: (http:\/\/\S+)/.exec(output)?.[1])) {
    if (Date.now() > deadline || demo.exitCode !== null)
      throw new Error(`the demo did not start:\n${output}`);
    await sleep(100);
  }
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'],
  });
  const page = await browser.newPage({
    viewport: { width: 1440, height: 1000 },
    colorScheme: light ? 'light' : 'dark',
  });
  await page.goto(url);
  await sleep(35_000); // some lock, queue and election history
  const leader = await page.getAttribute('#members-table tr[data-role="leader"]', 'data-member');
  await page.click(`button[data-action="kill"][data-member="${leader}"]`);
  await page.waitForSelector(`#members-table tr[data-role="leader"]:not([data-member="${leader}"])`, {
    timeout: 30_000,
  });
  await sleep(1500);
  await page.click(`button[data-action="restart"][data-member="${leader}"]`);
  await page.fill(
    '#config-editor',
    JSON.stringify(
      {
        lockHoldMs: 100,
        produceEveryMs: 200,
        consumeWorkMs: 300,
        leaderTermMs: 15000,
        message: 'edited live',
      },
      null,
      2,
    ),
  );
  await page.click('#config-apply');
  await sleep(12_000);
  await page.click('#tree .node[data-path="/demo"]');
  await page.fill('#zn-create input[name="name"]', 'config');
  await page.click('#zn-create button[type="submit"]'); // NODEEXISTS, shown as the typed error
  await sleep(1500);
  await page.screenshot({ path: out });
  await browser.close();
  console.log(`wrote ${out}`);
} finally {
  demo.kill('SIGTERM');
  await new Promise((r) => demo.once('exit', r));
}
