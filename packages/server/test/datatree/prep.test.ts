import {
  CreateMode,
  type CreateRequest,
  ErrorCode,
  type Id,
  MAX_TTL_MS,
  OPEN_ACL_UNSAFE,
  Perms,
  READ_ACL_UNSAFE,
  type Txn,
} from '@conclave/core';
import { describe, expect, test } from 'vitest';
import { digestId, type WriteRequest } from '../../src/datatree/index.js';
import { bytes, Harness } from './harness.js';

const acl = [...OPEN_ACL_UNSAFE];
const ALICE: Id = { scheme: 'digest', id: digestId('alice', 'secret') };
const create = (path: string, mode: number = CreateMode.PERSISTENT, extra: Partial<CreateRequest> = {}) =>
  ({ op: 'create', path, data: bytes('d'), acl, mode, ...extra }) as CreateRequest;

function setup(): Harness {
  const h = new Harness({ maxDataBytes: 100, superDigest: digestId('super', 'test') });
  h.openSession(1n);
  h.run(create('/a'));
  h.run(create('/a/b'));
  h.run(create('/eph', CreateMode.EPHEMERAL));
  h.run(create('/locked'));
  h.run({ op: 'setACL', path: '/locked', acl: [{ perms: Perms.ALL, id: ALICE }], version: -1 }, 1n, [ALICE]);
  return h;
}

describe('bad requests become typed error txns and leave the tree unchanged', () => {
  const cases: [string, WriteRequest, keyof typeof ErrorCode, Id[]?][] = [
    ['relative path', create('a'), 'BADARGUMENTS'],
    ['trailing slash', create('/a/'), 'BADARGUMENTS'],
    ['empty segment', create('/a//b'), 'BADARGUMENTS'],
    ['dot segment', { op: 'setData', path: '/a/.', data: bytes(''), version: -1 }, 'BADARGUMENTS'],
    ['NUL in path', create('/a\u0000b'), 'BADARGUMENTS'],
    [
      'data over maxDataBytes',
      { op: 'setData', path: '/a', data: new Uint8Array(101), version: -1 },
      'BADARGUMENTS',
    ],
    [
      'create with data over maxDataBytes',
      { ...create('/big'), data: new Uint8Array(101) } as WriteRequest,
      'BADARGUMENTS',
    ],
    ['unknown create mode', create('/x', 42), 'BADARGUMENTS'],
    ['TTL mode without ttl', create('/x', CreateMode.PERSISTENT_WITH_TTL), 'BADARGUMENTS'],
    ['TTL of 0', create('/x', CreateMode.PERSISTENT_WITH_TTL, { ttlMs: 0 } as never), 'BADARGUMENTS'],
    [
      'TTL over MAX_TTL_MS',
      create('/x', CreateMode.PERSISTENT_SEQUENTIAL_WITH_TTL, { ttlMs: MAX_TTL_MS + 1 } as never),
      'BADARGUMENTS',
    ],
    ['ttl on a non-TTL mode', create('/x', CreateMode.PERSISTENT, { ttlMs: 1000 } as never), 'BADARGUMENTS'],
    ['root deletion', { op: 'delete', path: '/', version: -1 }, 'BADARGUMENTS'],
    ['create of the root', create('/'), 'NODEEXISTS'],
    ['create of an existing node', create('/a'), 'NODEEXISTS'],
    ['create under a missing parent', create('/nope/x'), 'NONODE'],
    ['delete of a missing node', { op: 'delete', path: '/a/zz', version: -1 }, 'NONODE'],
    ['delete of a non-empty node', { op: 'delete', path: '/a', version: -1 }, 'NOTEMPTY'],
    ['delete with a bad version', { op: 'delete', path: '/a/b', version: 3 }, 'BADVERSION'],
    ['setData with a bad version', { op: 'setData', path: '/a', data: bytes(''), version: 9 }, 'BADVERSION'],
    ['setACL with a bad aversion', { op: 'setACL', path: '/a', acl, version: 4 }, 'BADVERSION'],
    ['check with a bad version', { op: 'check', path: '/a', version: 2 }, 'BADVERSION'],
    ['child of an ephemeral', create('/eph/c'), 'NOCHILDRENFOREPHEMERALS'],
    ['empty ACL', { ...create('/x'), acl: [] } as WriteRequest, 'INVALIDACL'],
    [
      'unknown ACL scheme',
      { ...create('/x'), acl: [{ perms: 31, id: { scheme: 'foo', id: 'x' } }] } as WriteRequest,
      'INVALIDACL',
    ],
    [
      'world id other than anyone',
      { ...create('/x'), acl: [{ perms: 31, id: { scheme: 'world', id: 'bob' } }] } as WriteRequest,
      'INVALIDACL',
    ],
    [
      'malformed digest id',
      { ...create('/x'), acl: [{ perms: 31, id: { scheme: 'digest', id: 'nocolon' } }] } as WriteRequest,
      'INVALIDACL',
    ],
    [
      'malformed ip id',
      { ...create('/x'), acl: [{ perms: 31, id: { scheme: 'ip', id: '10.0.0.1/40' } }] } as WriteRequest,
      'INVALIDACL',
    ],
    [
      'perms out of range',
      { ...create('/x'), acl: [{ perms: 64, id: { scheme: 'world', id: 'anyone' } }] } as WriteRequest,
      'INVALIDACL',
    ],
    [
      "'auth' ACL without authenticated ids",
      { ...create('/x'), acl: [{ perms: 31, id: { scheme: 'auth', id: '' } }] } as WriteRequest,
      'INVALIDACL',
    ],
    ['setACL to an empty ACL', { op: 'setACL', path: '/a', acl: [], version: -1 }, 'INVALIDACL'],
    ['setData without WRITE', { op: 'setData', path: '/locked', data: bytes(''), version: -1 }, 'NOAUTH'],
    ['create without CREATE on the parent', create('/locked/x'), 'NOAUTH'],
    ['check without READ', { op: 'check', path: '/locked', version: -1 }, 'NOAUTH'],
    ['setACL without ADMIN', { op: 'setACL', path: '/locked', acl, version: -1 }, 'NOAUTH'],
    [
      'a multi over the op limit',
      { op: 'multi', ops: new Array(1001).fill({ op: 'check', path: '/a', version: -1 }) },
      'BADARGUMENTS',
    ],
    [
      'a multi with a setACL op',
      { op: 'multi', ops: [{ op: 'setACL', path: '/a', acl, version: -1 }] } as never,
      'BADARGUMENTS',
    ],
  ];

  test.each(cases)('%s → %s', (_name, request, code, authIds) => {
    const h = setup();
    const digest = h.db.digest();
    const paths = [...h.db.tree.paths()];
    const { txn, error } = h.prep.prep(request, {
      sessionId: 1n,
      authIds: authIds ?? [],
      nowMs: h.time + 1000,
    });
    const err =
      txn.type === 'error'
        ? txn.err
        : txn.type === 'multi'
          ? txn.txns.find((t) => t.type === 'error' && t.err !== 0)
          : undefined;
    const errno = typeof err === 'number' ? err : (err as { err: number } | undefined)?.err;
    expect(errno).toBe(ErrorCode[code]);
    if (txn.type === 'error') expect(error?.code).toBe(code);
    const r = h.applyTxn(txn);
    expect(r.err).toBe(ErrorCode[code]);
    expect(h.db.digest()).toBe(digest);
    expect([...h.db.tree.paths()]).toEqual(paths);
    expect(h.prep.outstandingCount).toBe(0);
  });

  test('the data-size error says what to do', () => {
    const h = setup();
    const { error } = h.prep.prep(
      { op: 'setData', path: '/a', data: new Uint8Array(101), version: -1 },
      h.ctx(),
    );
    expect(error?.message).toMatch(/101 bytes exceeds the limit of 100 bytes \(maxDataBytes/);
  });
});

describe('ACLs in prep', () => {
  test("'auth' expands to the session's digest ids (not ip, not super)", () => {
    const h = setup();
    const ids: Id[] = [ALICE, { scheme: 'ip', id: '127.0.0.1' }, { scheme: 'super', id: '' }];
    h.run(
      {
        ...create('/mine'),
        acl: [{ perms: Perms.READ | Perms.WRITE, id: { scheme: 'auth', id: '' } }],
      } as WriteRequest,
      1n,
      ids,
    );
    expect(h.db.tree.getACL('/mine').acl).toEqual([{ perms: Perms.READ | Perms.WRITE, id: ALICE }]);
  });

  test('duplicate entries are dropped', () => {
    const h = setup();
    h.run({ ...create('/dup'), acl: [...acl, ...acl] } as WriteRequest);
    expect(h.db.tree.getACL('/dup').acl).toEqual(acl);
  });

  test('the owner passes, the super user (by superDigest) bypasses, others are refused', () => {
    const h = setup();
    const set = { op: 'setData', path: '/locked', data: bytes('x'), version: -1 } as const;
    expect(h.run(set, 1n, [ALICE]).err).toBe(0);
    expect(h.run(set, 1n, [{ scheme: 'digest', id: digestId('super', 'test') }]).err).toBe(0);
    expect(h.run(set, 1n, [{ scheme: 'digest', id: digestId('super', 'wrong') }]).err).toBe(ErrorCode.NOAUTH);
  });

  test('checkRead enforces READ and reports NONODE', () => {
    const h = setup();
    expect(() => h.prep.checkRead('/locked', [])).toThrow(expect.objectContaining({ code: 'NOAUTH' }));
    expect(() => h.prep.checkRead('/locked', [ALICE])).not.toThrow();
    expect(() => h.prep.checkRead('/a', [])).not.toThrow();
    expect(() => h.prep.checkRead('/missing', [])).toThrow(expect.objectContaining({ code: 'NONODE' }));
  });

  test('a pending setACL is what later preps are checked against (no TOCTOU)', () => {
    const h = setup();
    const revoke = h.prep.prep({ op: 'setACL', path: '/a', acl: [...READ_ACL_UNSAFE], version: -1 }, h.ctx());
    const write = h.prep.prep({ op: 'setData', path: '/a', data: bytes('x'), version: -1 }, h.ctx());
    expect(revoke.txn.type).toBe('setACL');
    expect(write.txn).toEqual({ type: 'error', err: ErrorCode.NOAUTH });
  });
});

describe('pipelining against outstanding changes', () => {
  test('create /p then /p/q before either applies; a second create /p is NODEEXISTS', () => {
    const h = setup();
    const ctx = h.ctx();
    const p1 = h.prep.prep(create('/p'), ctx);
    const p2 = h.prep.prep(create('/p/q'), ctx);
    const p3 = h.prep.prep(create('/p'), ctx);
    expect(p1.txn.type).toBe('create');
    expect(p2.txn).toMatchObject({ type: 'create', path: '/p/q', parentCVersion: 1 });
    expect(p3.txn).toEqual({ type: 'error', err: ErrorCode.NODEEXISTS });
    for (const p of [p1, p2, p3]) {
      expect(h.applyTxn(p.txn).err).toBe(p === p3 ? ErrorCode.NODEEXISTS : 0);
      h.prep.settle(p.token);
    }
    expect(h.prep.outstandingCount).toBe(0);
    expect(h.db.tree.exists('/p')!.numChildren).toBe(1);
  });

  test('sequential names and versions advance across unapplied preps', () => {
    const h = setup();
    const ctx = h.ctx();
    const s1 = h.prep.prep(create('/a/s-', CreateMode.PERSISTENT_SEQUENTIAL), ctx);
    const s2 = h.prep.prep(create('/a/s-', CreateMode.PERSISTENT_SEQUENTIAL), ctx);
    expect(s1.txn).toMatchObject({ path: '/a/s-0000000001', parentCVersion: 2 });
    expect(s2.txn).toMatchObject({ path: '/a/s-0000000002', parentCVersion: 3 });
    const d1 = h.prep.prep({ op: 'setData', path: '/a', data: bytes('1'), version: 0 }, ctx);
    const d2 = h.prep.prep({ op: 'setData', path: '/a', data: bytes('2'), version: 1 }, ctx);
    const d3 = h.prep.prep({ op: 'setData', path: '/a', data: bytes('3'), version: 1 }, ctx);
    expect(d2.txn).toMatchObject({ type: 'setData', version: 2 });
    expect(d3.txn).toEqual({ type: 'error', err: ErrorCode.BADVERSION });
    const del = h.prep.prep({ op: 'delete', path: '/a/b', version: -1 }, ctx);
    const del2 = h.prep.prep({ op: 'delete', path: '/a/b', version: -1 }, ctx);
    expect(del.txn.type).toBe('delete');
    expect(del2.txn).toEqual({ type: 'error', err: ErrorCode.NONODE });
    for (const p of [s1, s2, d1, d2, d3, del, del2]) {
      h.applyTxn(p.txn);
      h.prep.settle(p.token);
    }
    expect(h.db.tree.exists('/a')).toMatchObject({ version: 2, cversion: 3, numChildren: 2 });
  });

  test('a failed multi leaves no outstanding trace', () => {
    const h = setup();
    const m = h.prep.prep({ op: 'multi', ops: [create('/m1'), create('/a')] }, h.ctx());
    expect(m.txn).toEqual({
      type: 'multi',
      txns: [
        { type: 'error', err: 0 },
        { type: 'error', err: ErrorCode.NODEEXISTS },
      ],
    });
    expect(h.prep.prep(create('/m1'), h.ctx()).txn.type).toBe('create');
  });

  test('closeSession lists ephemerals created by unapplied txns, and later requests of the session expire', () => {
    const h = setup();
    h.openSession(9n);
    h.run(create('/a/e1', CreateMode.EPHEMERAL), 9n);
    const ctx = h.ctx(9n);
    const e2 = h.prep.prep(create('/a/e2', CreateMode.EPHEMERAL_SEQUENTIAL), ctx);
    const rm = h.prep.prep({ op: 'delete', path: '/a/e1', version: -1 }, ctx);
    const e3 = h.prep.prep(create('/a/e3', CreateMode.EPHEMERAL), ctx);
    const close = h.prep.prep({ op: 'closeSession' }, ctx);
    expect(close.txn).toEqual({ type: 'closeSession', ephemerals: ['/a/e20000000002', '/a/e3'] });
    const after = h.prep.prep(create('/a/e4', CreateMode.EPHEMERAL), ctx);
    expect(after.txn).toEqual({ type: 'error', err: ErrorCode.SESSIONEXPIRED });
    for (const p of [e2, rm, e3, close, after]) {
      h.applyTxn(p.txn, 9n);
      h.prep.settle(p.token);
    }
    expect(h.db.ephemeralsOf(9n)).toEqual([]);
    expect(h.db.sessions.has(9n)).toBe(false);
  });

  test('reset() forgets outstanding changes (leadership change)', () => {
    const h = setup();
    h.prep.prep(create('/gone'), h.ctx());
    expect(h.prep.prep(create('/gone'), h.ctx()).txn.type).toBe('error');
    h.prep.reset();
    expect(h.prep.outstandingCount).toBe(0);
    expect(h.prep.prep(create('/gone'), h.ctx()).txn.type).toBe('create');
  });

  test('ephemeral without a session is refused', () => {
    const h = setup();
    expect(h.prep.prep(create('/x', CreateMode.EPHEMERAL), h.ctx(0n)).txn).toEqual({
      type: 'error',
      err: ErrorCode.BADARGUMENTS,
    });
  });

  test('createSession validates its timeout', () => {
    const h = setup();
    expect(() => h.prep.createSession(0, new Uint8Array(16))).toThrow(
      expect.objectContaining({ code: 'BADARGUMENTS' }),
    );
  });
});

describe('session liveness at prep time (ZooKeeper checkSession)', () => {
  const refusedTxn = { type: 'error', err: ErrorCode.SESSIONEXPIRED };

  test('a request from a closed/expired/unknown session is refused with SESSIONEXPIRED and creates nothing', () => {
    const h = setup();
    const paths = [...h.db.tree.paths()];
    const refuse = (request: WriteRequest, sessionId: bigint) => {
      const r = h.prep.prep(request, h.ctx(sessionId));
      expect(r.txn).toEqual(refusedTxn);
      expect(r.error?.code).toBe('SESSIONEXPIRED');
      return r;
    };
    const applyAll = (sessionId: bigint, ...ps: { txn: Txn; token: number }[]) => {
      for (const p of ps) {
        h.applyTxn(p.txn, sessionId);
        h.prep.settle(p.token);
      }
    };

    // Unknown (never opened): every kind of write is refused, a multi as a whole.
    const writes: WriteRequest[] = [
      create('/u'),
      create('/u', CreateMode.EPHEMERAL),
      create('/a/s-', CreateMode.EPHEMERAL_SEQUENTIAL),
      { op: 'setData', path: '/a', data: bytes('x'), version: -1 },
      { op: 'delete', path: '/a/b', version: -1 },
      { op: 'check', path: '/a', version: -1 },
      { op: 'setACL', path: '/a', acl, version: -1 },
      { op: 'multi', ops: [create('/u'), create('/u/e', CreateMode.EPHEMERAL)] },
    ];
    for (const w of writes) {
      const r = refuse(w, 42n);
      expect(h.applyTxn(r.txn, 42n).err).toBe(ErrorCode.SESSIONEXPIRED);
      h.prep.settle(r.token);
    }

    // Closed by its client, racing: the close is prepped, then an ephemeral create is prepped
    // before the close applies. Accepting it would make an ephemeral of a dead session.
    h.openSession(9n);
    const close = h.prep.prep({ op: 'closeSession' }, h.ctx(9n));
    const racing = refuse(create('/a/e9', CreateMode.EPHEMERAL), 9n);
    applyAll(9n, close, racing);
    expect(h.db.sessions.has(9n)).toBe(false);
    // After the close settled the Preparer no longer remembers it: the database says it is gone.
    applyAll(9n, refuse(create('/a/e9', CreateMode.EPHEMERAL), 9n), refuse(create('/a/p9'), 9n));

    // Expired: the server's own close (no request), the same race, then after it settled.
    h.openSession(8n);
    const expire = h.prep.closeSession(8n);
    const expireToken = h.prep.lastToken;
    const racing8 = refuse(create('/a/e8', CreateMode.EPHEMERAL_SEQUENTIAL), 8n);
    applyAll(8n, { txn: expire, token: expireToken }, racing8);
    applyAll(8n, refuse(create('/a/e8', CreateMode.EPHEMERAL), 8n));

    for (const s of [8n, 9n, 42n]) expect(h.db.ephemeralsOf(s)).toEqual([]);
    expect([...h.db.tree.paths()]).toEqual(paths);
    expect(h.prep.outstandingCount).toBe(0);
  });

  test('a session whose createSession is prepped (with its id) is open before it applies', () => {
    const h = setup();
    const open = h.prep.createSession(10_000, new Uint8Array(16), 7n);
    const openToken = h.prep.lastToken;
    const e7 = h.prep.prep(create('/a/e7', CreateMode.EPHEMERAL), h.ctx(7n));
    expect(e7.txn).toMatchObject({ type: 'create', path: '/a/e7', ephemeralOwner: 7n });
    // Without the id the Preparer cannot know the session until the database has it.
    const anon = h.prep.createSession(10_000, new Uint8Array(16));
    const anonToken = h.prep.lastToken;
    const early = h.prep.prep(create('/a/e6', CreateMode.EPHEMERAL), h.ctx(6n));
    expect(early.txn).toEqual(refusedTxn);
    h.applyTxn(open, 7n);
    h.prep.settle(openToken);
    h.applyTxn(e7.txn, 7n);
    h.prep.settle(e7.token);
    h.applyTxn(anon, 6n);
    h.prep.settle(anonToken);
    h.applyTxn(early.txn, 6n);
    h.prep.settle(early.token);
    expect(h.db.ephemeralsOf(7n)).toEqual(['/a/e7']);
    expect(h.db.ephemeralsOf(6n)).toEqual([]);
    expect(h.run(create('/a/e6', CreateMode.EPHEMERAL), 6n).err).toBe(0);
    // A createSession abandoned with its leadership (reset) never opened the session.
    h.prep.createSession(10_000, new Uint8Array(16), 5n);
    h.prep.reset();
    expect(h.prep.prep(create('/a/e5', CreateMode.EPHEMERAL), h.ctx(5n)).txn).toEqual(refusedTxn);
  });
});
