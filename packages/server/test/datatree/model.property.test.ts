import { type ACL, ErrorCode, type Id, type MultiOp, type Stat, type TxnEntry } from '@conclave/core';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { type ApplyResult, Database, digestId, type WriteRequest } from '../../src/datatree/index.js';
import { Harness } from './harness.js';
import { type MResult, Model } from './model.js';

const MAX_DATA = 16;
const ALICE: Id = { scheme: 'digest', id: digestId('alice', 'pw') };
const BOB: Id = { scheme: 'digest', id: digestId('bob', 'pw') };
const AUTH: Record<string, Id[]> = { '1': [ALICE], '2': [BOB], '3': [] };
const SESSIONS = [1n, 2n, 3n];

const aclChoices: ACL[][] = [
  [{ perms: 31, id: { scheme: 'world', id: 'anyone' } }],
  [{ perms: 31, id: { scheme: 'world', id: 'anyone' } }],
  [{ perms: 31, id: { scheme: 'world', id: 'anyone' } }],
  [{ perms: 31, id: { scheme: 'world', id: 'anyone' } }],
  [{ perms: 31, id: { scheme: 'world', id: 'anyone' } }],
  [{ perms: 31, id: { scheme: 'world', id: 'anyone' } }],
  [{ perms: 31, id: { scheme: 'world', id: 'anyone' } }],
  [{ perms: 31, id: { scheme: 'auth', id: '' } }],
  [
    { perms: 31, id: ALICE },
    { perms: 1, id: { scheme: 'world', id: 'anyone' } },
  ],
  [{ perms: 1 | 4 | 8, id: { scheme: 'world', id: 'anyone' } }],
  [],
  [{ perms: 31, id: { scheme: 'nosuch', id: 'x' } }],
];

const seg = fc.constantFrom('a', 'b', 'c');
// A tiny namespace (depth ≤ 3 over a, b, c), shallow paths likelier, so ops collide often.
const goodPath = fc
  .oneof(
    { weight: 3, arbitrary: fc.array(seg, { minLength: 1, maxLength: 1 }) },
    { weight: 3, arbitrary: fc.array(seg, { minLength: 2, maxLength: 2 }) },
    { weight: 2, arbitrary: fc.array(seg, { minLength: 3, maxLength: 3 }) },
  )
  .map((s) => `/${s.join('/')}`);
const badPath = fc.constantFrom('', 'a', '/a/', '/a//b', '/a/.', '/', '/a/..');
const path = fc.oneof({ weight: 12, arbitrary: goodPath }, { weight: 1, arbitrary: badPath });
const data = fc.oneof(
  { weight: 15, arbitrary: fc.uint8Array({ maxLength: 4 }) },
  { weight: 1, arbitrary: fc.constant(new Uint8Array(MAX_DATA + 1)) },
);
const version = fc.constantFrom(-1, -1, 0, 1, 2);
const acl = fc.constantFrom(...aclChoices);

const create = fc
  .record({
    path: fc.oneof(
      { weight: 8, arbitrary: path },
      { weight: 1, arbitrary: goodPath.map((p) => `${p}/s-`) },
      { weight: 1, arbitrary: goodPath.map((p) => `${p}/`) },
    ),
    data,
    acl,
    mode: fc.oneof(
      { weight: 40, arbitrary: fc.integer({ min: 0, max: 6 }) },
      { weight: 1, arbitrary: fc.constant(9) },
    ),
    ttl: fc.constantFrom(undefined, undefined, undefined, undefined, undefined, undefined, 1000, 0),
  })
  .map(({ path, data, acl, mode, ttl }) => {
    const ttlMs =
      mode === 5 || mode === 6 ? (ttl === undefined ? 5000 : ttl) : ttl === 1000 ? 1000 : undefined;
    const req: MultiOp = {
      op: 'create',
      path,
      data,
      acl,
      mode: mode as 0,
      ...(ttlMs !== undefined ? { ttlMs } : {}),
    };
    return req;
  });
const del = fc
  .record({ path, version })
  .map(({ path, version }): MultiOp => ({ op: 'delete', path, version }));
const setData = fc
  .record({ path, data, version })
  .map(({ path, data, version }): MultiOp => ({ op: 'setData', path, data, version }));
const check = fc
  .record({ path, version })
  .map(({ path, version }): MultiOp => ({ op: 'check', path, version }));
const setACL = fc
  .record({ path, acl, version })
  .map(({ path, acl, version }): WriteRequest => ({ op: 'setACL', path, acl, version }));
const multiOp = fc.oneof({ weight: 4, arbitrary: create }, del, setData, check);
const multi = fc
  .array(multiOp, { minLength: 0, maxLength: 4 })
  .map((ops): WriteRequest => ({ op: 'multi', ops }));
const request: fc.Arbitrary<WriteRequest> = fc.oneof(
  { weight: 12, arbitrary: create },
  { weight: 4, arbitrary: del },
  { weight: 3, arbitrary: setData },
  { weight: 1, arbitrary: setACL },
  { weight: 1, arbitrary: check },
  { weight: 2, arbitrary: multi },
  { weight: 1, arbitrary: fc.constant<WriteRequest>({ op: 'closeSession' }) },
);
const item = fc.record({ sid: fc.constantFrom(...SESSIONS), req: request });
const batches = fc.array(fc.array(item, { minLength: 1, maxLength: 4 }), {
  minLength: 1,
  maxLength: 40,
  size: 'max',
});

function expectMatches(real: ApplyResult, model: MResult, label: string): void {
  expect(real.err, label).toBe(model.err);
  if (model.err !== 0) return;
  const r = (real.result ?? {}) as { path?: string; stat?: Stat; results?: unknown[] };
  const m = model as { path?: string; stat?: Stat; results?: MResult[] };
  if (m.path !== undefined) expect(r.path, label).toBe(m.path);
  if (m.stat !== undefined) expect(r.stat, label).toEqual(m.stat);
  if (m.results !== undefined) {
    const rr = r.results as { op: string; err?: number; path?: string; stat?: Stat }[];
    expect(rr.length, label).toBe(m.results.length);
    m.results.forEach((mr, i) => {
      const x = rr[i]!;
      expect(x.op === 'error' ? x.err : 0, `${label} op ${i}`).toBe(mr.err);
      const mm = mr as { path?: string; stat?: Stat };
      if (mm.path !== undefined) expect(x.path, `${label} op ${i}`).toBe(mm.path);
      if (mm.stat !== undefined) expect(x.stat, `${label} op ${i}`).toEqual(mm.stat);
    });
  }
}

function expectSameState(h: Harness, model: Model): void {
  const realPaths = [...h.db.tree.paths()].sort();
  expect(realPaths).toEqual([...model.nodes.keys()].sort());
  for (const p of realPaths) {
    expect(h.db.tree.exists(p), p).toEqual(model.stat(p));
    expect(h.db.tree.getData(p).data, p).toEqual(model.nodes.get(p)!.data);
    expect(h.db.tree.getACL(p).acl, p).toEqual(model.nodes.get(p)!.acl);
    expect([...h.db.tree.getChildren(p).children].sort(), p).toEqual(
      model
        .children(p)
        .map((c) => c.slice(c.lastIndexOf('/') + 1))
        .sort(),
    );
  }
  for (const sid of SESSIONS) {
    const mine = [...model.nodes].filter(([, n]) => n.stat.ephemeralOwner === sid).map(([p]) => p);
    expect(h.db.ephemeralsOf(sid)).toEqual(mine.sort());
  }
}

describe('Preparer + Database against the reference model', () => {
  test('random pipelined op sequences give the same results, errors, Stats and tree', async () => {
    await fc.assert(
      fc.asyncProperty(batches, async (bs) => {
        const h = new Harness({ maxDataBytes: MAX_DATA });
        const model = new Model(MAX_DATA);
        for (const sid of SESSIONS) {
          h.openSession(sid);
          model.sessions.add(sid);
        }
        for (const [bi, batch] of bs.entries()) {
          // Prep the whole batch first (pipelining), then apply it in order.
          const prepped = batch.map(({ sid, req }, i) => {
            const time = h.time + 1000 * (i + 1);
            return {
              sid,
              req,
              time,
              ...h.prep.prep(req, { sessionId: sid, authIds: AUTH[String(sid)]!, nowMs: time }),
            };
          });
          const closing = new Set<bigint>();
          for (const [i, p] of prepped.entries()) {
            const real = h.applyTxn(p.txn, p.sid);
            expect(h.time).toBe(p.time);
            h.prep.settle(p.token);
            const expected: MResult =
              closing.has(p.sid) && p.req.op !== 'closeSession'
                ? { err: ErrorCode.SESSIONEXPIRED }
                : model.process(p.req, p.sid, AUTH[String(p.sid)]!, h.zxid, h.time);
            if (p.req.op === 'closeSession') closing.add(p.sid);
            expectMatches(
              real,
              expected,
              `batch ${bi} item ${i} ${JSON.stringify(p.req, (_k, v) => (typeof v === 'bigint' ? String(v) : v))}`,
            );
          }
          expect(h.prep.outstandingCount).toBe(0);
          for (const sid of closing) {
            expect(h.db.sessions.has(sid)).toBe(false);
            h.openSession(sid);
            model.sessions.add(sid);
          }
          expectSameState(h, model);
        }
        // A replica that replays the log, and one restored from a snapshot, hold the same state.
        const replica = new Database();
        for (const e of h.log) replica.apply(e as TxnEntry);
        expect(replica.digest()).toBe(h.db.digest());
        const restored = await Database.restore(h.db.serialize());
        expect(restored.digest()).toBe(h.db.digest());
        expect(restored.lastZxid).toBe(h.db.lastZxid);
        for (const p of h.db.tree.paths()) expect(restored.tree.exists(p)).toEqual(h.db.tree.exists(p));
      }),
      { numRuns: 150 },
    );
  });
});
