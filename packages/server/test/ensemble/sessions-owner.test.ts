import pino from 'pino';
import { describe, expect, it } from 'vitest';
// The server package does not depend on the client; the test imports its sources directly.
import { type ConclaveClient, connect } from '../../../client/src/index.js';
import type { EnsembleMember } from '../../src/ensemble/index.js';
import { QuorumTransport } from '../../src/ensemble/transport.js';
import { useSoloMember } from './solo-member.js';

async function waitFor(what: string, cond: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * The leader records which member holds each session's connection (from the members' `owner`
 * announcements) and forgets it when the session closes. An announcement that arrives after the
 * session's closeSession (a member bound the session just before its client closed it) must not
 * bring the entry back: nothing would ever delete it. Member 1 leads alone; the test speaks the
 * quorum protocol as member 2 (an observer in the config that never syncs).
 */
describe('session owners at the leader', () => {
  const solo = useSoloMember();

  it('an owner announcement for a closed session is ignored', async () => {
    const member: EnsembleMember = await solo({
      extra: [{ id: 2, host: '127.0.0.1', clientPort: 1, quorumPort: 1, role: 'observer' }],
    });
    const clients: ConclaveClient[] = [];
    const peer = new QuorumTransport({
      id: 2,
      peers: new Map([[1, { host: '127.0.0.1', port: member.quorumPort }]]),
      host: '127.0.0.1',
      port: 0,
      onMessage: () => {},
      log: pino({ level: 'silent' }),
    });
    try {
      const closed = await connect(member.connectString, { sessionTimeoutMs: 10_000 });
      const live = await connect(member.connectString, { sessionTimeoutMs: 10_000 });
      clients.push(live);
      await waitFor('both sessions owned by member 1', () => member.status().sessionOwners[1] === 2);
      const gone = closed.sessionId;
      await closed.close();
      await waitFor('the closed session forgotten', () => member.status().sessionOwners[1] === 1);

      await peer.start();
      await waitFor('member 2 connected', () => peer.connected(1));
      // FIFO: once the second announcement took effect, the first was handled too.
      peer.send(1, { kind: 'owner', sessionId: gone });
      peer.send(1, { kind: 'owner', sessionId: live.sessionId });
      await waitFor(
        'the live session moved to member 2',
        () => member.status().sessionOwners[2] !== undefined,
      );
      expect(member.status().sessionOwners).toEqual({ 2: 1 });
    } finally {
      await peer.close();
      await Promise.allSettled(clients.map((c) => c.close()));
    }
  }, 60_000);
});
