import { describe, expect, it } from 'vitest';
// The server package does not depend on the client; the test imports its sources directly.
import { connect } from '../../../client/src/index.js';
import { useSoloMember } from './solo-member.js';

/**
 * Opening and closing sessions is never throttled (ZooKeeper never throttles closeSession): a
 * leader at its proposal limit refuses writes with THROTTLEDOP, but a client can still connect,
 * and a session can still be closed (freeing what it holds). A limit of 0 stands for "every
 * proposal slot taken", deterministically.
 */
describe('session opens and closes past the proposal limit', () => {
  const solo = useSoloMember();

  it('connects and closes sessions while every write is throttled', async () => {
    const member = await solo({ maxOutstandingProposals: 0 });
    const c = await connect(member.connectString, { sessionTimeoutMs: 10_000 });
    try {
      await expect(c.create('/x', undefined)).rejects.toMatchObject({ code: 'THROTTLEDOP' });
    } finally {
      await c.close();
    }
    // The closeSession was applied: the member tracks no session any more.
    const deadline = Date.now() + 20_000;
    while (member.status().sessions !== 0) {
      if (Date.now() > deadline) throw new Error(`sessions left: ${member.status().sessions}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }, 60_000);
});
