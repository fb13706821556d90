import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// The server package does not depend on the client; the test imports its sources directly.
import { type ConclaveClient, type ConnectionState, connect } from '../../../client/src/index.js';
import { useEnsemble } from './fixture.js';

/**
 * A write the leader refuses because too many proposals are in flight fails alone, with
 * THROTTLEDOP: the member does not restart its serving period (which would drop every client on
 * it and turn overload into a reconnect storm). The members are spawned with
 * maxOutstandingProposals 1, so a burst of pipelined writes is throttled for sure.
 */
describe('a leader over its proposal limit (THROTTLEDOP)', () => {
  const saved = process.env.CONCLAVE_MAX_OUTSTANDING_PROPOSALS;
  // Registered before useEnsemble's hooks, so the members inherit it when they are spawned.
  beforeAll(() => {
    process.env.CONCLAVE_MAX_OUTSTANDING_PROPOSALS = '1';
  });
  const fx = useEnsemble({ size: 3, tickMs: 200 });
  afterAll(() => {
    if (saved === undefined) delete process.env.CONCLAVE_MAX_OUTSTANDING_PROPOSALS;
    else process.env.CONCLAVE_MAX_OUTSTANDING_PROPOSALS = saved;
  });

  it('fails just the throttled writes; no client is disconnected', async () => {
    const { ens, clients } = fx;
    const leader = await ens.waitForLeader(30_000);
    const follower = ens.members.find((m) => m.id !== leader)!;
    const deadline = Date.now() + 30_000;
    while ((await ens.status(follower.id))?.serving !== true) {
      if (Date.now() > deadline) throw new Error(`member ${follower.id} never served`);
      await new Promise((r) => setTimeout(r, 25));
    }
    const on = async (): Promise<ConclaveClient> => {
      const c = await connect(`127.0.0.1:${follower.clientPort}`, { sessionTimeoutMs: 10_000 });
      clients.push(c);
      return c;
    };
    const writer = await on();
    const bystander = await on();
    const states: ConnectionState[] = [];
    writer.on('state', (s: ConnectionState) => states.push(s));
    bystander.on('state', (s: ConnectionState) => states.push(s));
    await writer.create('/burst', undefined);
    const n = 200;
    const results = await Promise.allSettled(
      Array.from({ length: n }, (_, i) => writer.create(`/burst/n${i}`, undefined)),
    );
    const codes = new Map<string, number>();
    for (const r of results) {
      const code = r.status === 'fulfilled' ? 'OK' : String((r.reason as { code?: string }).code);
      codes.set(code, (codes.get(code) ?? 0) + 1);
    }
    console.log(
      `burst of ${n} creates through a follower, maxOutstandingProposals 1: ${JSON.stringify([...codes])}`,
    );
    expect([...codes.keys()].sort()).toEqual(['OK', 'THROTTLEDOP']);
    // Nobody was disconnected: the session stayed CONNECTED throughout.
    expect(states).toEqual([]);
    // Exactly the acknowledged creates happened; a throttled one was never applied.
    await writer.sync('/burst');
    const { children } = await writer.getChildren('/burst');
    const ok = results.flatMap((r, i) => (r.status === 'fulfilled' ? [`n${i}`] : []));
    expect(children.sort()).toEqual(ok.sort());
    // Both sessions keep working on the same connections.
    await writer.create('/burst/after', undefined);
    expect(await bystander.exists('/burst/after')).not.toBeNull();
    expect(states).toEqual([]);
  }, 60_000);
});
