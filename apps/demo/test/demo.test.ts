/**
 * End to end: `node dist/main.js` (the real demo: 3 member processes, 4 workers, the dashboard)
 * driven through Debian's Chromium with playwright-core. Kill the leader from the page, see a new
 * leader and the timed failover in the event log; restart it; edit the config and see every
 * worker pick it up; then SIGTERM the demo and check that no process it started survives.
 *
 * Needs `pnpm --filter @conclave/demo build` (and its dependencies built) first; `pnpm test`
 * does that through turbo. Needs /usr/bin/chromium (`apt-get install -y chromium`).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { alive, descendants } from './processes.js';

const CHROMIUM = '/usr/bin/chromium';
const appDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const mainJs = join(appDir, 'dist', 'main.js');
const outDir = join(appDir, 'test-output');

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => resolve(typeof addr === 'object' && addr !== null ? addr.port : 0));
    });
  });
}

async function until<T>(
  what: string,
  timeoutMs: number,
  probe: () => T | undefined | Promise<T | undefined>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Evaluates `fn` in the page until it returns something other than undefined. */
function inPage<T, A = undefined>(
  page: Page,
  what: string,
  timeoutMs: number,
  fn: (arg: A) => T | undefined,
  arg?: A,
): Promise<T> {
  return until(what, timeoutMs, () => page.evaluate(fn as never, arg as never) as Promise<T | undefined>);
}

let demo: ChildProcess | undefined;
let browser: Browser | undefined;
let output = '';

afterAll(async () => {
  await browser?.close().catch(() => {});
  // Only if the test failed half-way: never leave the demo (and its children) behind.
  if (demo !== undefined && demo.exitCode === null && demo.signalCode === null) {
    const pids = demo.pid !== undefined ? descendants(demo.pid) : [];
    demo.kill('SIGTERM');
    await until('the demo to exit', 20_000, () =>
      demo!.exitCode !== null || demo!.signalCode !== null ? true : undefined,
    ).catch(() => {
      demo!.kill('SIGKILL');
    });
    for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL');
  }
});

describe('pnpm demo', () => {
  it('shows the ensemble, survives a leader kill, spreads config, and stops every process', async () => {
    // A missing browser or build is a failure with instructions, never a skip.
    expect(
      existsSync(CHROMIUM),
      `${CHROMIUM} not found: install it with \`apt-get install -y chromium\``,
    ).toBe(true);
    expect(
      existsSync(mainJs),
      `${mainJs} not found: run \`pnpm --filter @conclave/demo... build\` first`,
    ).toBe(true);
    mkdirSync(outDir, { recursive: true });
    const t0 = Date.now();

    const port = await freePort();
    demo = spawn(process.execPath, [mainJs, '--port', String(port), '--workers', '4'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    demo.stdout?.on('data', (d: Buffer) => {
      output += d.toString();
    });
    demo.stderr?.on('data', (d: Buffer) => {
      output += d.toString();
    });
    const url = await until(`the demo to print its URL; output so far:\n${output}`, 60_000, () => {
      if (demo!.exitCode !== null) throw new Error(`the demo exited with ${demo!.exitCode}:\n${output}`);
      return /dashboard: (http:\/\/\S+)/.exec(output)?.[1];
    });

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-dev-shm-usage',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    });
    const page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(url);

    // Three members, all up, exactly one leader.
    const leader = await inPage(page, '3 members up with one leader', 30_000, () => {
      const rows = Array.from(document.querySelectorAll<HTMLElement>('#members-table tr[data-member]'));
      const leaders = rows.filter((r) => r.dataset.role === 'leader');
      const up = rows.filter((r) => r.dataset.up === 'true');
      return rows.length === 3 && up.length === 3 && leaders.length === 1
        ? Number(leaders[0]!.dataset.member)
        : undefined;
    });

    // Workers are connected and contend for the lock.
    await inPage(page, '4 workers connected, with a lock holder and an election leader', 30_000, () => {
      const sessions = Array.from(document.querySelectorAll('#workers-table .state')).map(
        (e) => e.textContent,
      );
      const holder = document.getElementById('lock-holder')?.textContent;
      const elected = document.getElementById('election-leader')?.textContent;
      return sessions.length === 4 &&
        sessions.every((s) => s === 'CONNECTED' || s === 'RECONNECTED') &&
        holder?.startsWith('w') &&
        elected?.startsWith('w')
        ? true
        : undefined;
    });

    // Kill the leader from the page: a new leader, and the failover (with its duration) in the log.
    const killedAt = Date.now();
    await page.click(`button[data-action="kill"][data-member="${leader}"]`);
    const newLeader = await inPage(
      page,
      'a new leader after the kill',
      30_000,
      (killed) => {
        const rows = Array.from(document.querySelectorAll<HTMLElement>('#members-table tr[data-member]'));
        const l = rows.find((r) => r.dataset.role === 'leader' && r.dataset.up === 'true');
        return l !== undefined && Number(l.dataset.member) !== killed ? Number(l.dataset.member) : undefined;
      },
      leader,
    );
    expect(newLeader).not.toBe(leader);
    const failoverLine = await inPage(page, 'the failover in the event log', 10_000, () => {
      const lines = Array.from(document.querySelectorAll('#log li[data-kind="failover"] .x')).map(
        (e) => e.textContent ?? '',
      );
      return lines.find((t) => t.startsWith('failover:'));
    });
    expect(failoverLine).toMatch(/no leader for \d+\.\d+ s/);
    const killedRole = await page.getAttribute(`#members-table tr[data-member="${leader}"]`, 'data-role');
    expect(killedRole).toBe('down');
    const failoverMs = Date.now() - killedAt;

    // Restart it: it comes back as a follower.
    await page.click(`button[data-action="restart"][data-member="${leader}"]`);
    await inPage(page, 'the killed member back up', 30_000, () => {
      const rows = Array.from(document.querySelectorAll<HTMLElement>('#members-table tr[data-member]'));
      return rows.length === 3 && rows.every((r) => r.dataset.up === 'true') ? true : undefined;
    });

    // Edit the config: every worker reports the new value.
    const marker = `set by the test at ${Date.now()}`;
    await page.fill(
      '#config-editor',
      JSON.stringify(
        { lockHoldMs: 80, produceEveryMs: 250, consumeWorkMs: 100, leaderTermMs: 15000, message: marker },
        null,
        2,
      ),
    );
    await page.click('#config-apply');
    const configMs = Date.now();
    await inPage(page, 'every worker to see the new config', 30_000, () => {
      const status = document.getElementById('config-status');
      if (status?.classList.contains('err')) throw new Error(`config apply failed: ${status.textContent}`);
      const values = Array.from(document.querySelectorAll('#config-workers .val')).map(
        (e) => e.textContent ?? '',
      );
      return values.length === 4 && values.every((v) => v.includes('set by the test')) ? true : undefined;
    });
    const spreadMs = Date.now() - configMs;

    await page.screenshot({ path: join(outDir, 'demo.png') });
    expect(pageErrors).toEqual([]);

    // SIGTERM: the demo stops every member and worker, then exits.
    const pids = [...descendants(demo.pid!)];
    const reported = (await (await fetch(`${url}/api/pids`)).json()) as {
      members: number[];
      workers: number[];
    };
    for (const pid of [...reported.members, ...reported.workers]) expect(pids).toContain(pid);
    expect(pids.length).toBeGreaterThanOrEqual(3 + 4);
    await browser.close();
    browser = undefined;
    demo.kill('SIGTERM');
    const code = await until('the demo to exit after SIGTERM', 30_000, () => demo!.exitCode ?? undefined);
    expect(code, output).toBe(0);
    await until(`every process the demo started to be gone (${pids.join(', ')})`, 10_000, () =>
      pids.every((pid) => !alive(pid)) ? true : undefined,
    );
    process.stdout.write(
      `demo e2e: failover seen in the page ${failoverMs} ms after the kill (${failoverLine}); ` +
        `config reached all workers in ${spreadMs} ms; ${pids.length} child processes stopped; total ${Date.now() - t0} ms\n`,
    );
  });
});
