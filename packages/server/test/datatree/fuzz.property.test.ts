import { CreateMode, OPEN_ACL_UNSAFE } from '@conclave/core';
import fc from 'fast-check';
import { expect, test } from 'vitest';
import type { WriteRequest } from '../../src/datatree/index.js';
import { bytes, Harness } from './harness.js';

// Malformed requests (wrong types, missing fields, junk values) as a buggy or hostile client
// might send after schema checks let something through: prep must answer with an error txn,
// never throw, and whatever txn it returns must apply cleanly.
const junk = fc.oneof(
  fc.constant(undefined),
  fc.constant(null),
  fc.integer({ min: -3, max: 3 }),
  fc.double(),
  fc.string({ maxLength: 6 }),
  fc.constantFrom('/a', '/a/b', '/', '/a/', '/x/'),
  fc.uint8Array({ maxLength: 3 }),
  fc.constant([]),
  fc.constant([...OPEN_ACL_UNSAFE]),
  fc.constant([{ perms: 'x', id: null }]),
  fc.constant({}),
  fc.bigInt({ min: -2n, max: 2n }),
);
const path = fc.oneof(
  { weight: 1, arbitrary: junk },
  { weight: 4, arbitrary: fc.constantFrom('/a', '/a/b', '/a/b/c', '/', '/a/') },
);
const data = fc.oneof(
  { weight: 1, arbitrary: junk },
  { weight: 3, arbitrary: fc.uint8Array({ maxLength: 70 }) },
);
const acl = fc.oneof(
  { weight: 1, arbitrary: junk },
  { weight: 3, arbitrary: fc.constant([...OPEN_ACL_UNSAFE]) },
);
const version = fc.oneof(
  { weight: 1, arbitrary: junk },
  { weight: 3, arbitrary: fc.integer({ min: -1, max: 2 }) },
);
const op = fc.constantFrom(
  'create',
  'delete',
  'setData',
  'setACL',
  'check',
  'multi',
  'closeSession',
  'getData',
  'bogus',
);
const request = fc
  .record({
    op,
    path,
    data,
    acl,
    mode: fc.oneof(junk, fc.integer({ min: 0, max: 7 })),
    version,
    ttlMs: fc.oneof(junk, fc.constant(undefined), fc.constant(undefined), fc.constant(1000)),
    ops: fc.oneof(
      junk,
      fc.array(
        fc.record({ op, path, version, data, acl, mode: fc.oneof(junk, fc.integer({ min: 0, max: 6 })) }),
        {
          maxLength: 3,
        },
      ),
    ),
  })
  .map((r) => r as unknown as WriteRequest);

test('junk requests become error txns or valid txns, never exceptions or invariant violations', () => {
  fc.assert(
    fc.property(fc.array(request, { minLength: 1, maxLength: 20 }), (reqs) => {
      const h = new Harness();
      h.openSession(1n);
      h.run({
        op: 'create',
        path: '/a',
        data: bytes(''),
        acl: [...OPEN_ACL_UNSAFE],
        mode: CreateMode.PERSISTENT,
      });
      for (const req of reqs) {
        const before = h.db.digest();
        const { txn, token } = h.prep.prep(req, h.ctx());
        const r = h.applyTxn(txn);
        h.prep.settle(token);
        if (r.err !== 0) expect(h.db.digest()).toBe(before);
      }
    }),
    { numRuns: 300 },
  );
});
