import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { format } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startTestServer } from './helpers.js';

/**
 * The README's examples, run as the README says they are meant to be read: one ES module made of
 * every ```ts block in order (the prelude first), against a fresh real server. Only two things
 * are rewritten: the connect string (the README's 127.0.0.1:2181 → this test's server) and the
 * package import (→ this package's sources). So an example that stops compiling, throws, or
 * prints something other than what its comment promises fails here instead of drifting.
 */

const here = dirname(fileURLToPath(import.meta.url));
const README = join(here, '..', 'README.md');

/** What the examples print (their `// …` comments say so); each must appear in the output. */
const PROMISED = [
  /^holding \/locks\/invoice-42\/_c_[0-9a-f-]{36}-lock-\d{10}$/, // Mutex
  /^reading under \/locks\/catalog\/_c_[0-9a-f-]{36}-read-\d{10}$/, // ReadWriteLock
  /^writing under \/locks\/catalog\/_c_[0-9a-f-]{36}-write-\d{10}$/,
  /^holding 2 leases$/, // Semaphore
  /^leading$/, // LeaderElection
  // The observer is closed right after subscribing: it may not have read the election yet.
  /^leader: (node-a|none)$/,
  /^passed: true$/, // Barrier
  /^both inside$/, // DoubleBarrier
  /^resize photo 17$/, // queues
  /^page the on-call$/,
  /^retry job 9$/,
  /^maxConns = 200$/, // ConfigValue
  /^\{ maxConns: 200 \}$/,
  /^1$/, // SharedCounter
  /^members: \[ 'worker-7' \]$/, // GroupMembership
  /^api-1 → 10\.0\.0\.5 8080$/, // ServiceDiscovery
  /^\{"beta":true\}$/, // NodeCache
  /^committed$/, // TwoPhaseCommit
];

/** The ```ts blocks of the README, in order. */
function tsBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1] ?? '');
}

let ts: Awaited<ReturnType<typeof startTestServer>>;
beforeAll(async () => {
  ts = await startTestServer();
});
afterAll(async () => {
  await ts?.stop();
});

describe('README examples', () => {
  it('run as one module against a real server and print what they promise', async () => {
    const blocks = tsBlocks(await readFile(README, 'utf8'));
    expect(blocks.length).toBeGreaterThanOrEqual(14);
    const prelude = blocks[0] ?? '';
    // The rewrites below must find what they replace, or they would silently test something else.
    expect(prelude).toContain("connect('127.0.0.1:2181'");
    expect(prelude).toContain("from '@conclave/recipes'");
    const source = blocks
      .join('\n')
      .replace("connect('127.0.0.1:2181'", `connect(${JSON.stringify(ts.server.connectString)}`)
      .replace("from '@conclave/recipes'", "from '../../src/index.js'");

    const dir = await mkdtemp(join(here, '.readme-'));
    const file = join(dir, 'readme-examples.ts');
    const printed: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => {
      printed.push(format(...args));
    });
    try {
      await writeFile(file, source);
      await import(pathToFileURL(file).href);
    } finally {
      log.mockRestore();
      await rm(dir, { recursive: true, force: true });
    }
    for (const line of PROMISED) {
      expect(
        printed.some((p) => line.test(p)),
        `${line} in:\n${printed.join('\n')}`,
      ).toBe(true);
    }
  }, 60_000);
});
