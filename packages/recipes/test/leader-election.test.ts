import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { firstValueFrom } from 'rxjs';
import { filter } from 'rxjs/operators';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LeaderElection, type Participant, RecipeClosedError } from '../src/index.js';
import { childrenOf, Clients, CuttableProxy, startTestServer, waitFor } from './helpers.js';

let srv: Awaited<ReturnType<typeof startTestServer>>;
const clients = new Clients();
let n = 0;
const freshPath = () => `/election/e-${++n}`;

beforeAll(async () => {
  srv = await startTestServer();
});
afterAll(async () => {
  await clients.closeAll();
  await srv?.stop();
});

/** Starts `count` participants, each on its own client. */
async function participants(path: string, count: number, connectString = srv.server.connectString) {
  const out: LeaderElection[] = [];
  for (let i = 0; i < count; i++) {
    const client = await clients.connect(connectString);
    const e = new LeaderElection(client, path, { id: `p${i}`, payload: { n: i } });
    await e.start();
    out.push(e);
  }
  return out;
}

function latest<T>(obs: { subscribe(fn: (v: T) => void): unknown }): { value: T | undefined } {
  const box: { value: T | undefined } = { value: undefined };
  obs.subscribe((v) => (box.value = v));
  return box;
}

describe('LeaderElection', () => {
  it('elects exactly one leader; leader$ agrees on every participant and on an observer', async () => {
    const path = freshPath();
    const es = await participants(path, 3);
    await es[0]!.awaitLeadership();
    const observerClient = await clients.connect(srv.server.connectString);
    const observer = LeaderElection.observe(observerClient, path);
    const views = [
      ...es.map((e) => latest<Participant | null>(e.leader$)),
      latest<Participant | null>(observer.leader$),
    ];
    await waitFor('every view names p0', () => views.every((v) => v.value?.id === 'p0'));
    expect(es.map((e) => e.isLeader)).toEqual([true, false, false]);
    expect(views[0]!.value?.payload).toEqual({ n: 0 });
    await waitFor('participants listed', () => observer.participants.length === 3);
    expect(observer.participants.map((p) => p.id)).toEqual(['p0', 'p1', 'p2']);
    await observer.close();
    await Promise.all(es.map((e) => e.close()));
    expect(await childrenOf(observerClient, path)).toEqual([]);
  });

  it('resign hands over to the next participant and requeues at the back', async () => {
    const path = freshPath();
    const es = await participants(path, 3);
    await es[0]!.awaitLeadership();
    await es[0]!.resign();
    await es[1]!.awaitLeadership();
    expect(es[0]!.isLeader).toBe(false);
    await waitFor('p0 requeued at the back', async () => {
      const ids: string[] = [];
      const observer = LeaderElection.observe(es[2]!.client, path);
      await waitFor('observer read', () => observer.participants.length === 3);
      ids.push(...observer.participants.map((p) => p.id));
      await observer.close();
      return ids.join() === 'p1,p2,p0';
    });
    await es[1]!.close(); // close hands over too
    await es[2]!.awaitLeadership();
    await Promise.all(es.map((e) => e.close()));
  });

  it('SUSPENDED makes the leader step down at once; RECONNECTED on the same session restores it', async () => {
    const path = freshPath();
    const proxy = await CuttableProxy.start(srv.server.port);
    try {
      const client = await clients.connect(proxy.connectString, 10_000);
      const leader = new LeaderElection(client, path, { id: 'solo' });
      const seen = latest<boolean>(leader.isLeader$);
      await leader.start();
      await leader.awaitLeadership();
      proxy.cut();
      await waitFor('stepped down on SUSPENDED', () => seen.value === false);
      expect(leader.state).toBe('suspended');
      proxy.restore();
      await waitFor('leads again after RECONNECTED', () => seen.value === true);
      expect(leader.state).toBe('leader');
      await leader.close();
    } finally {
      await proxy.close();
    }
  });

  it("fails over within the session timeout when the leader's session dies", async () => {
    const path = freshPath();
    const proxy = await CuttableProxy.start(srv.server.port);
    try {
      const fragileClient = await clients.connect(proxy.connectString, 800);
      const old = new LeaderElection(fragileClient, path, { id: 'old' });
      await old.start();
      await old.awaitLeadership();
      const [next] = await participants(path, 1);
      const nextLeader = latest<Participant | null>(next!.leader$);
      await waitFor('next sees old leader', () => nextLeader.value?.id === 'old');
      proxy.cut();
      const t0 = Date.now();
      await next!.awaitLeadership();
      const failoverMs = Date.now() - t0;
      expect(failoverMs).toBeLessThan(800 * 3);
      await waitFor('leader$ agrees', () => nextLeader.value?.id === 'p0');
      expect(old.isLeader).toBe(false);
      await waitFor('old participant knows it lost', () => old.state === 'lost');
      await expect(old.awaitLeadership()).rejects.toThrow(/session was lost/);
      await old.close();
      await next!.close();
    } finally {
      await proxy.close();
    }
  });

  it('awaitLeadership honours abort and close', async () => {
    const path = freshPath();
    const [first, second] = await participants(path, 2);
    await first!.awaitLeadership();
    const reason = new Error('stop waiting');
    const ac = new AbortController();
    const waiting = second!.awaitLeadership({ signal: ac.signal });
    ac.abort(reason);
    await expect(waiting).rejects.toBe(reason);
    const waiting2 = expect(second!.awaitLeadership()).rejects.toBeInstanceOf(RecipeClosedError);
    await second!.close();
    await waiting2;
    await expect(second!.start()).rejects.toBeInstanceOf(RecipeClosedError);
    const isLeader = await firstValueFrom(first!.isLeader$.pipe(filter((v) => v)));
    expect(isLeader).toBe(true);
    await first!.close();
  });

  it('an aborted start() leaves no node and the election can start again', async () => {
    const path = freshPath();
    const client = await clients.connect(srv.server.connectString);
    const election = new LeaderElection(client, path, { id: 'again' });
    const reason = new Error('not now');
    await expect(election.start({ signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    expect(election.state).toBe('idle');
    expect(await childrenOf(client, path)).toEqual([]);
    await election.start();
    await election.awaitLeadership();
    await election.close();
  });

  it('an observer of a path that does not exist yet sees the first leader when it appears', async () => {
    const path = freshPath();
    const observerClient = await clients.connect(srv.server.connectString);
    const observer = LeaderElection.observe(observerClient, path);
    const seen = latest<Participant | null>(observer.leader$);
    await waitFor('observer running', () => seen.value === null);
    const [p] = await participants(path, 1);
    await waitFor('observer sees the leader', () => seen.value?.id === 'p0');
    await p!.close();
    await waitFor('observer sees nobody', () => seen.value === null);
    await observer.close();
  });

  it('LOST then the same session back: the stale node is deleted and start() joins again', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'conclave-recipes-lost-'));
    const own = await startTestServer({ dataDir });
    const port = own.server.port;
    let restarted: Awaited<ReturnType<typeof startTestServer>> | undefined;
    try {
      const path = '/election/revive';
      const client = await clients.connect(own.server.connectString, 1_000);
      const states: string[] = [];
      client.state$.subscribe((s) => states.push(s));
      const election = new LeaderElection(client, path, { id: 'phoenix' });
      await election.start();
      await election.awaitLeadership();
      await own.server.close(); // the server keeps sessions across a restart
      await waitFor('client presumes the session LOST', () => client.state === 'LOST');
      expect(election.isLeader).toBe(false);
      await waitFor('election knows it lost', () => election.state === 'lost');
      restarted = await startTestServer({ port, dataDir });
      await waitFor('same session back', () => client.state === 'RECONNECTED', 20_000);
      // The node of the lost term must not linger as a leader nobody runs.
      await waitFor('stale node deleted', async () => (await childrenOf(client, path)).length === 0);
      await election.start();
      await election.awaitLeadership();
      expect(await childrenOf(client, path)).toHaveLength(1);
      await election.close();
      expect(states).toContain('LOST');
    } finally {
      await restarted?.stop().catch(() => {});
      await own.stop().catch(() => {});
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
