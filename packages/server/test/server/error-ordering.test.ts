import { ErrorCode } from '@conclave/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { create, serverPerSuite, WireClient } from './wire.js';

/**
 * An error answer must never overtake the proposal it rests on: a session told NODEEXISTS (because
 * of another session's in-flight create) or NONODE (because of an in-flight delete) must see that
 * node state on its very next read, as in ZooKeeper, where error txns are ordered with the rest.
 * fsync stays on so proposals are in flight long enough for the race to happen.
 */
describe('error answers are ordered behind in-flight proposals', () => {
  const srv = serverPerSuite({ fsync: true });
  let clients: WireClient[];

  beforeAll(async () => {
    clients = await Promise.all(Array.from({ length: 6 }, () => WireClient.session(srv.url)));
  });
  afterAll(async () => {
    await Promise.all((clients ?? []).map((c) => c.ws.close()));
  });

  it('NODEEXISTS is followed by a read that sees the node', async () => {
    let nodeExists = 0;
    for (let round = 0; round < 60; round++) {
      const path = `/race-${round}`;
      await Promise.all(
        clients.map(async (c) => {
          const r = await c.request(create(path));
          if (r.err !== ErrorCode.NODEEXISTS) return;
          nodeExists++;
          const seen = await c.request({ op: 'exists', path, watch: false });
          expect(seen.err, `exists(${path}) right after NODEEXISTS`).toBe(0);
        }),
      );
    }
    expect(nodeExists).toBe(60 * 5);
  });

  it('NONODE is followed by a read that does not see the node', async () => {
    const [deleter, ...others] = clients;
    for (let round = 0; round < 60; round++) {
      const path = `/gone-${round}`;
      expect((await deleter!.request(create(path))).err).toBe(0);
      await Promise.all([
        deleter!.request({ op: 'delete', path, version: -1 }),
        ...others.map(async (c) => {
          const r = await c.request({ op: 'setData', path, data: new Uint8Array(1), version: -1 });
          if (r.err !== ErrorCode.NONODE) return;
          const seen = await c.request({ op: 'exists', path, watch: false });
          expect(seen.err, `exists(${path}) right after NONODE`).toBe(ErrorCode.NONODE);
        }),
      ]);
    }
  });
});
