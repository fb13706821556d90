import { rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ConclaveClient } from '@conclave/client';
import { type LocalEnsemble, startEnsemble } from '@conclave/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DistributedQueue, type LockHandle, LeaderElection, Mutex } from '../src/index.js';
import { Clients, waitFor } from './helpers.js';
import { bundleFromSources, text } from './r2-helpers.js';

/**
 * The recipes on a replicated 3-member ensemble of real processes while the ZAB leader is
 * SIGKILLed: a Mutex keeps handing off with mutual exclusion and loses no hold, a LeaderElection
 * has exactly one leader before and after the failover, a DistributedQueue hands every item out
 * exactly once. Clients list every member, so some of them are connected to the leader that dies
 * and must move (same session) to a survivor.
 *
 * The members run the server's SOURCES, bundled once with esbuild (as the r2 worker fixture is):
 * no dependency on a fresh dist/, and no race with a build that cleans it.
 */
const here = dirname(fileURLToPath(import.meta.url));
const MEMBER_SOURCE = join(here, '..', '..', 'server', 'src', 'ensemble', 'member-main.ts');

/** Ticks of 200 ms: sessions of up to 20 ticks = 4 s, failover well within that on a busy machine. */
const TICK_MS = 200;
const SESSION_MS = 4_000;

let memberBundle: string;
let ensemble: LocalEnsemble;
const clients = new Clients(SESSION_MS);

beforeAll(async () => {
  memberBundle = await bundleFromSources(MEMBER_SOURCE, 'member-main');
  ensemble = await startEnsemble({ size: 3, tickMs: TICK_MS, fsync: false, entry: memberBundle });
  await ensemble.waitForLeader(30_000);
}, 60_000);

afterAll(async () => {
  await clients.closeAll();
  await ensemble?.close();
  if (memberBundle !== undefined) await rm(dirname(memberBundle), { recursive: true, force: true });
});

describe('recipes across a leader failover (3 members, SIGKILL)', () => {
  it('Mutex excludes and hands off, LeaderElection keeps one leader, DistributedQueue is exactly-once', async () => {
    const oldLeader = await ensemble.waitForLeader(10_000);
    const cs = await clientsWithFirstOn(oldLeader);
    const sessions = cs.map((c) => c.sessionId);
    const movedStates: string[] = [];
    cs[0]!.state$.subscribe((s) => movedStates.push(s));
    const violations: string[] = [];

    // (a) Mutex: three contenders, one per client, acquire and release in a loop.
    const inside = new Map<number, LockHandle>();
    let acquisitions = 0;
    let stopMutex = false;
    const lostHolds: string[] = [];
    const contenders = cs.map(async (c, i) => {
      const mutex = new Mutex(c, '/ens/mutex');
      while (!stopMutex) {
        const h = await mutex.acquire({ timeoutMs: 30_000 });
        h.lost$.subscribe((state) => lostHolds.push(`contender ${i}: ${state}`));
        for (const [j, other] of inside) {
          if (other.isHeld) violations.push(`contender ${i} acquired while ${j} held the lock`);
        }
        inside.set(i, h);
        acquisitions++;
        // Some work under the lock that needs the service (retried across the failover).
        await retryConnectionLoss(() => c.exists('/ens/mutex'));
        inside.delete(i);
        await h.release();
      }
    });

    // (b) LeaderElection: one participant per client.
    // Started in order: p0, whose client is on the member we kill, leads.
    const elections = cs.map((c, i) => new LeaderElection(c, '/ens/election', { id: `p${i}` }));
    for (const e of elections) await e.start();
    const leaders = () => elections.filter((e) => e.state === 'leader').map((e) => e.id);
    const leaderChecks = elections.map((e) =>
      e.state$.subscribe((s) => {
        if (s === 'leader' && leaders().length > 1) violations.push(`two leaders: ${leaders().join(', ')}`);
        if (s === 'lost' || s === 'failed') violations.push(`${e.id} went ${s}`);
      }),
    );
    await waitFor('p0 leads', () => leaders().join() === 'p0', 20_000);

    // (c) DistributedQueue: one producer, two consumers, items offered across the failover.
    const ITEMS = 40;
    const queues = cs.map((c) => new DistributedQueue(c, '/ens/queue'));
    const taken: string[] = [];
    const producer = (async () => {
      for (let n = 0; n < ITEMS; n++) await queues[0]!.offer(`item-${n}`);
    })();
    const consumers = [1, 2].map(async (i) => {
      while (taken.length < ITEMS) {
        const data = await queues[i]!.take({ timeoutMs: 2_000 }).catch((err: unknown) => {
          if ((err as { code?: string }).code === 'OPERATIONTIMEOUT') return undefined;
          throw err;
        });
        if (data !== undefined) taken.push(text(data));
      }
    });

    // Kill the leader in the middle of all that.
    await waitFor('a few hand-offs and items', () => acquisitions >= 6 && taken.length >= 5, 20_000);
    expect(await ensemble.waitForLeader(10_000)).toBe(oldLeader);
    const beforeKill = acquisitions;
    await ensemble.kill(oldLeader);
    const newLeader = await ensemble.waitForLeader(30_000);
    expect(newLeader).not.toBe(oldLeader);

    // Everything keeps going after the failover.
    await waitFor('hand-offs after the failover', () => acquisitions >= beforeKill + 9, 30_000);
    stopMutex = true;
    await Promise.all(contenders);
    await producer;
    await Promise.all(consumers);
    await waitFor('exactly one leader after the failover', () => leaders().length === 1, 20_000);
    // p0's client moved to a survivor on the same session, and p0 kept its place at the head.
    expect(movedStates).toContain('SUSPENDED');
    expect(leaders()).toEqual(['p0']);

    expect(violations).toEqual([]);
    expect(lostHolds).toEqual([]);
    // Every session survived the failover: nothing a recipe held was lost.
    expect(cs.map((c) => c.sessionId)).toEqual(sessions);
    expect(cs.every((c) => c.state === 'CONNECTED' || c.state === 'RECONNECTED')).toBe(true);
    // Exactly once: every item taken, none twice, and the queue is empty.
    expect([...taken].sort()).toEqual(Array.from({ length: ITEMS }, (_, n) => `item-${n}`).sort());
    expect(await queues[0]!.size()).toBe(0);

    for (const sub of leaderChecks) sub.unsubscribe();
    await Promise.all(elections.map((e) => e.close()));
  }, 90_000);
});

/**
 * Three clients listing every member, the first one connected to member `id` (a session id
 * carries the member that created it in its high byte; the client shuffles the members, so
 * connect until one lands there).
 */
async function clientsWithFirstOn(id: number): Promise<ConclaveClient[]> {
  const onMember = (c: ConclaveClient) => Number(c.sessionId >> 56n) === id;
  let first: ConclaveClient | undefined;
  for (let attempt = 0; attempt < 30 && first === undefined; attempt++) {
    const c = await clients.connect(ensemble.connectString, SESSION_MS);
    if (onMember(c)) first = c;
    else await c.close();
  }
  if (first === undefined) throw new Error(`no client landed on member ${id} in 30 connects`);
  const rest = [await clients.connect(ensemble.connectString, SESSION_MS)];
  rest.push(await clients.connect(ensemble.connectString, SESSION_MS));
  return [first, ...rest];
}

/** A read retried while the client moves to another member (CONNECTIONLOSS fails fast meanwhile). */
async function retryConnectionLoss<T>(op: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 20_000;
  for (let delayMs = 10; ; delayMs = Math.min(delayMs * 2, 200)) {
    try {
      return await op();
    } catch (err) {
      if ((err as { code?: string }).code !== 'CONNECTIONLOSS' || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, delayMs));
    }
  }
}
