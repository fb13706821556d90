import { CreateMode, OPEN_ACL_UNSAFE } from '@conclave/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Database, type WriteRequest } from '../../src/datatree/index.js';
import { Harness } from '../datatree/harness.js';
import { create, serverPerSuite, WireClient } from './wire.js';

/**
 * mntr's zk_approximate_data_size and zk_ephemerals_count are running counters of the DataTree
 * (a scrape must not walk a million nodes): they must always equal what a walk would compute.
 */
function walk(db: Database): { dataBytes: number; ephemerals: number } {
  let dataBytes = 0;
  for (const path of db.tree.paths()) dataBytes += path.length + db.tree.exists(path)!.dataLength;
  let ephemerals = 0;
  for (const owner of db.tree.ephemeralOwners()) ephemerals += db.tree.ephemeralsOf(owner).length;
  return { dataBytes, ephemerals };
}

function counters(db: Database): { dataBytes: number; ephemerals: number } {
  return { dataBytes: db.tree.approximateDataBytes, ephemerals: db.tree.ephemeralCount };
}

const PATHS = ['/a', '/b', '/a/x', '/a/y', '/b/z'];
const MODES = [
  CreateMode.PERSISTENT,
  CreateMode.EPHEMERAL,
  CreateMode.CONTAINER,
  CreateMode.PERSISTENT_WITH_TTL,
  CreateMode.EPHEMERAL_SEQUENTIAL,
];
type Step =
  | { kind: 'create'; path: string; mode: number; size: number; session: bigint }
  | { kind: 'setData'; path: string; size: number }
  | { kind: 'delete'; path: string }
  | { kind: 'closeSession'; session: bigint };

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({
    kind: fc.constant('create' as const),
    path: fc.constantFrom(...PATHS),
    mode: fc.constantFrom(...MODES),
    size: fc.constantFrom(0, 5, 64, 65, 3000),
    session: fc.constantFrom(1n, 2n),
  }),
  fc.record({
    kind: fc.constant('setData' as const),
    path: fc.constantFrom('/', ...PATHS),
    size: fc.constantFrom(0, 7, 64, 65, 5000),
  }),
  fc.record({ kind: fc.constant('delete' as const), path: fc.constantFrom(...PATHS) }),
  fc.record({ kind: fc.constant('closeSession' as const), session: fc.constantFrom(1n, 2n) }),
);

describe('mntr counters', () => {
  it('approximate data size and ephemeral count match a walk after any ops, and after a snapshot restore', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 40 }), async (steps) => {
        const h = new Harness();
        const open = new Set<bigint>();
        const ensureSession = (s: bigint) => {
          if (!open.has(s)) {
            h.openSession(s);
            open.add(s);
          }
        };
        ensureSession(1n);
        ensureSession(2n);
        for (const s of steps) {
          if (s.kind === 'create') {
            ensureSession(s.session);
            const req = {
              op: 'create',
              path: s.path,
              data: new Uint8Array(s.size).fill(7),
              acl: [...OPEN_ACL_UNSAFE],
              mode: s.mode,
              ...(s.mode === CreateMode.PERSISTENT_WITH_TTL ? { ttlMs: 1000 } : {}),
            } as WriteRequest;
            h.run(req, s.session);
          } else if (s.kind === 'setData') {
            h.run({ op: 'setData', path: s.path, data: new Uint8Array(s.size).fill(1), version: -1 });
          } else if (s.kind === 'delete') {
            h.run({ op: 'delete', path: s.path, version: -1 });
          } else if (open.has(s.session)) {
            h.applyTxn(h.prep.closeSession(s.session), s.session);
            h.prep.settle(h.prep.lastToken);
            open.delete(s.session);
          }
          expect(counters(h.db)).toEqual(walk(h.db));
        }
        const restored = await Database.restore([...h.db.serialize()]);
        expect(counters(restored)).toEqual(walk(h.db));
      }),
      { numRuns: 200 },
    );
  });

  describe('over the wire', () => {
    const srv = serverPerSuite({ fsync: false });

    it('mntr reports the counters', async () => {
      const c = await WireClient.session(srv.url);
      await c.request(create('/m', 'hello'));
      await c.request(create('/m/e1', 'abc', CreateMode.EPHEMERAL));
      await c.request(create('/m/e2', '', CreateMode.EPHEMERAL));
      await c.request(create('/m/c', '', CreateMode.CONTAINER));
      const text = await fetch(`${srv.server.adminUrl}/mntr`).then((r) => r.text());
      const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
      expect(value('zk_ephemerals_count')).toBe(2);
      // '/' + '/m' 'hello' + '/m/e1' 'abc' + '/m/e2' + '/m/c'
      expect(value('zk_approximate_data_size')).toBe(1 + (2 + 5) + (5 + 3) + 5 + 4);
      await c.closeSession();
      const after = await fetch(`${srv.server.adminUrl}/mntr`).then((r) => r.text());
      expect(after).toMatch(/^zk_ephemerals_count 0$/m);
    });
  });
});
