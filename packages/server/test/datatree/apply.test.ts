import {
  CONTAINER_EPHEMERAL_OWNER,
  type CreateRequest,
  CreateMode,
  ErrorCode,
  OPEN_ACL_UNSAFE,
  READ_ACL_UNSAFE,
  type Txn,
  ttlEphemeralOwner,
} from '@conclave/core';
import { describe, expect, test } from 'vitest';
import { Database } from '../../src/datatree/index.js';
import { bytes, Harness } from './harness.js';

const acl = [...OPEN_ACL_UNSAFE];
const create = (
  path: string,
  mode: number = CreateMode.PERSISTENT,
  data = bytes('d'),
  ttlMs?: number,
): CreateRequest =>
  ({ op: 'create', path, data, acl, mode, ...(ttlMs !== undefined ? { ttlMs } : {}) }) as CreateRequest;

describe('Stat fields as ZooKeeper maintains them', () => {
  test('create sets czxid=mzxid=pzxid, times, and bumps the parent cversion/pzxid/numChildren', () => {
    const h = new Harness();
    h.openSession(1n);
    h.run(create('/a'));
    const z1 = h.zxid;
    const t1 = h.time;
    const a = h.db.tree.exists('/a')!;
    expect(a).toEqual({
      czxid: z1,
      mzxid: z1,
      pzxid: z1,
      ctime: t1,
      mtime: t1,
      version: 0,
      cversion: 0,
      aversion: 0,
      ephemeralOwner: 0n,
      dataLength: 1,
      numChildren: 0,
    });
    const r = h.run(create('/a/b'));
    expect(r.events.map(({ type, path }) => ({ type, path }))).toEqual([
      { type: 'NodeCreated', path: '/a/b' },
      { type: 'NodeChildrenChanged', path: '/a' },
    ]);
    const a2 = h.db.tree.exists('/a')!;
    expect(a2).toMatchObject({ cversion: 1, pzxid: h.zxid, mzxid: z1, numChildren: 1, version: 0 });
    expect(h.db.tree.exists('/')!.cversion).toBe(1);
  });

  test('delete moves the parent pzxid but not its cversion (ZooKeeper DataTree.deleteNode)', () => {
    const h = new Harness();
    h.openSession(1n);
    h.run(create('/a'));
    h.run(create('/a/b'));
    h.run({ op: 'delete', path: '/a/b', version: -1 });
    expect(h.db.tree.exists('/a')).toMatchObject({ cversion: 1, pzxid: h.zxid, numChildren: 0 });
  });

  test('sequential names come from the parent cversion, %010d', () => {
    const h = new Harness();
    h.openSession(1n);
    h.run(create('/q'));
    const r1 = h.run(create('/q/n-', CreateMode.PERSISTENT_SEQUENTIAL));
    expect((r1.result as { path: string }).path).toBe('/q/n-0000000000');
    h.run({ op: 'delete', path: '/q/n-0000000000', version: -1 });
    h.run(create('/q/x'));
    const r2 = h.run(create('/q/', CreateMode.EPHEMERAL_SEQUENTIAL));
    expect((r2.result as { path: string }).path).toBe('/q/0000000002');
    const r3 = h.run(create('/', CreateMode.PERSISTENT_SEQUENTIAL));
    expect((r3.result as { path: string }).path).toBe('/0000000001');
  });

  test('setData bumps version, mzxid, mtime and dataLength only', () => {
    const h = new Harness();
    h.openSession(1n);
    h.run(create('/a'));
    const before = h.db.tree.exists('/a')!;
    const r = h.run({ op: 'setData', path: '/a', data: bytes('hello'), version: 0 });
    const after = h.db.tree.exists('/a')!;
    expect(after).toEqual({ ...before, version: 1, mzxid: h.zxid, mtime: h.time, dataLength: 5 });
    expect(r.result).toEqual({ stat: after });
    expect(r.events.map(({ type, path }) => ({ type, path }))).toEqual([
      { type: 'NodeDataChanged', path: '/a' },
    ]);
  });

  test('setACL bumps aversion only and fires nothing', () => {
    const h = new Harness();
    h.openSession(1n);
    h.run(create('/a'));
    const before = h.db.tree.exists('/a')!;
    const r = h.run({ op: 'setACL', path: '/a', acl: [...READ_ACL_UNSAFE], version: 0 });
    expect(h.db.tree.exists('/a')).toEqual({ ...before, aversion: 1 });
    expect(r.events).toEqual([]);
    expect(h.db.tree.getACL('/a').acl).toEqual([...READ_ACL_UNSAFE]);
  });

  test('ephemeral, container and TTL owners use ZooKeeper encoding', () => {
    const h = new Harness();
    h.openSession(1n);
    h.openSession(7n);
    h.run(create('/e', CreateMode.EPHEMERAL), 7n);
    h.run(create('/c', CreateMode.CONTAINER));
    h.run(create('/t', CreateMode.PERSISTENT_WITH_TTL, bytes(''), 5000));
    expect(h.db.tree.exists('/e')!.ephemeralOwner).toBe(7n);
    expect(h.db.tree.exists('/c')!.ephemeralOwner).toBe(CONTAINER_EPHEMERAL_OWNER);
    expect(h.db.tree.exists('/t')!.ephemeralOwner).toBe(ttlEphemeralOwner(5000));
    expect(h.db.ephemeralsOf(7n)).toEqual(['/e']);
  });
});

describe('sessions', () => {
  test('closeSession deletes the ephemerals and removes the session; digest returns', () => {
    const h = new Harness();
    h.openSession(1n);
    const d0 = h.db.digest();
    h.openSession(5n);
    expect(h.db.sessions.get(5n)?.timeoutMs).toBe(10_000);
    expect(h.db.digest()).not.toBe(d0);
    h.run(create('/p'));
    h.run(create('/p/e1', CreateMode.EPHEMERAL), 5n);
    h.run(create('/p/e2', CreateMode.EPHEMERAL_SEQUENTIAL), 5n);
    const r = h.run({ op: 'closeSession' }, 5n);
    expect(r.events.filter((e) => e.type === 'NodeDeleted').map((e) => e.path)).toEqual([
      '/p/e1',
      '/p/e20000000001',
    ]);
    expect(h.db.sessions.has(5n)).toBe(false);
    expect(h.db.ephemeralsOf(5n)).toEqual([]);
    expect(h.db.tree.exists('/p')).toMatchObject({ numChildren: 0, pzxid: h.zxid });
  });
});

describe('containers and TTL nodes', () => {
  test('a container becomes a candidate once its last child goes', () => {
    const h = new Harness();
    h.openSession(1n);
    h.run(create('/c', CreateMode.CONTAINER));
    expect(h.db.containerCandidates()).toEqual([]);
    h.run(create('/c/x'));
    expect(h.db.containerCandidates()).toEqual([]);
    h.run({ op: 'delete', path: '/c/x', version: -1 });
    expect(h.db.containerCandidates()).toEqual(['/c']);
    const reaped = h.prep.reap('/c', h.time)!;
    expect(reaped.txn).toEqual({ type: 'delete', path: '/c' });
    h.applyTxn(reaped.txn, 0n);
    h.prep.settle(reaped.token);
    expect(h.db.containerCandidates()).toEqual([]);
  });

  test('a childless TTL node expires when unmodified past its TTL', () => {
    const h = new Harness();
    h.openSession(1n);
    h.run(create('/t', CreateMode.PERSISTENT_WITH_TTL, bytes(''), 5000));
    const mtime = h.db.tree.exists('/t')!.mtime;
    expect(h.db.ttlExpired(mtime + 5000)).toEqual([]);
    expect(h.db.ttlExpired(mtime + 5001)).toEqual(['/t']);
    h.run(create('/t/child'));
    expect(h.db.ttlExpired(mtime + 50_000)).toEqual([]);
    expect(h.prep.reap('/t', mtime + 50_000)).toBeUndefined();
  });
});

describe('multi', () => {
  test('success applies every op with one zxid and reports each result', () => {
    const h = new Harness();
    h.openSession(1n);
    const r = h.run({
      op: 'multi',
      ops: [create('/m'), create('/m/a'), { op: 'setData', path: '/m', data: bytes('x'), version: 0 }],
    });
    expect(r.err).toBe(0);
    const results = (r.result as { results: { op: string }[] }).results;
    expect(results.map((x) => x.op)).toEqual(['create', 'create', 'setData']);
    expect(h.db.tree.exists('/m/a')!.czxid).toBe(h.zxid);
    expect(h.db.tree.exists('/m')!.czxid).toBe(h.zxid);
  });

  test('failure changes nothing: earlier ops OK (0), the failing op its error, later RUNTIMEINCONSISTENCY', () => {
    const h = new Harness();
    h.openSession(1n);
    h.run(create('/x'));
    const digest = h.db.digest();
    const r = h.run({
      op: 'multi',
      ops: [create('/m'), create('/x'), { op: 'delete', path: '/nope', version: -1 }],
    });
    expect(r.err).toBe(ErrorCode.NODEEXISTS);
    expect((r.result as { results: unknown[] }).results).toEqual([
      { op: 'error', err: 0 },
      { op: 'error', err: ErrorCode.NODEEXISTS },
      { op: 'error', err: ErrorCode.RUNTIMEINCONSISTENCY },
    ]);
    expect(r.events).toEqual([]);
    expect(h.db.tree.exists('/m')).toBeNull();
    expect(h.db.digest()).toBe(digest);
  });
});

describe('apply invariants', () => {
  const entry = (zxid: bigint, txn: Txn) => ({ zxid, sessionId: 1n, cxid: 0, time: 1, txn });

  test('a zxid not above lastZxid is refused', () => {
    const db = new Database();
    db.apply(entry(5n, { type: 'error', err: ErrorCode.NONODE }));
    expect(() => db.apply(entry(5n, { type: 'error', err: -101 }))).toThrow(/invariant/);
    expect(() => db.apply(entry(4n, { type: 'error', err: -101 }))).toThrow(/invariant/);
    expect(db.lastZxid).toBe(5n);
  });

  test.each<[string, Txn]>([
    [
      'create under a missing parent',
      { type: 'create', path: '/x/y', data: bytes(''), acl, ephemeralOwner: 0n, parentCVersion: 1 },
    ],
    [
      'create with a wrong parentCVersion',
      { type: 'create', path: '/b', data: bytes(''), acl, ephemeralOwner: 0n, parentCVersion: 7 },
    ],
    [
      'create of an existing node',
      { type: 'create', path: '/a', data: bytes(''), acl, ephemeralOwner: 0n, parentCVersion: 2 },
    ],
    ['delete of a node with children', { type: 'delete', path: '/a' }],
    ['delete of the root', { type: 'delete', path: '/' }],
    ['setData with a skipped version', { type: 'setData', path: '/a', data: bytes(''), version: 5 }],
    ['setACL with an empty ACL', { type: 'setACL', path: '/a', acl: [], version: 1 }],
    ['check that does not hold', { type: 'check', path: '/a', version: 3 }],
    [
      'a multi whose second op does not fit',
      {
        type: 'multi',
        txns: [
          { type: 'create', path: '/b', data: bytes(''), acl, ephemeralOwner: 0n, parentCVersion: 2 },
          { type: 'delete', path: '/zz' },
        ],
      },
    ],
    [
      'a multi mixing errors and ops',
      {
        type: 'multi',
        txns: [
          { type: 'error', err: 0 },
          { type: 'delete', path: '/a/c' },
        ],
      },
    ],
    ['closeSession listing a foreign node', { type: 'closeSession', ephemerals: ['/a'] }],
  ])('%s is an invariant violation that changes nothing', (_name, txn) => {
    const h = new Harness();
    h.openSession(1n);
    h.run(create('/a'));
    h.run(create('/a/c'));
    const digest = h.db.digest();
    const last = h.db.lastZxid;
    expect(() => h.db.apply(entry(last + 1n, txn))).toThrow(/invariant/);
    expect(h.db.digest()).toBe(digest);
    expect(h.db.lastZxid).toBe(last);
    expect(h.db.tree.exists('/b')).toBeNull();
  });
});

describe('digest', () => {
  test('replicas applying the same txns agree; different histories disagree', () => {
    const a = new Harness();
    a.openSession(1n);
    const b = new Harness();
    b.openSession(1n);
    for (const h of [a, b]) {
      h.run(create('/x'));
      h.run({ op: 'setData', path: '/x', data: bytes('1'), version: -1 });
    }
    expect(a.db.digest()).toBe(b.db.digest());
    a.run({ op: 'setData', path: '/x', data: bytes('2'), version: -1 });
    b.run({ op: 'setData', path: '/x', data: bytes('3'), version: -1 });
    expect(a.db.digest()).not.toBe(b.db.digest());
    expect(a.db.digest()).toMatch(/^[0-9a-f]{16}$/);
  });

  test('data bytes from a shared buffer are copied, not kept as a view', () => {
    const h = new Harness();
    h.openSession(1n);
    const big = Buffer.alloc(4096, 1);
    h.run({ op: 'create', path: '/v', data: big.subarray(10, 20), acl, mode: 0 });
    const stored = h.db.tree.getData('/v').data;
    expect(stored.byteLength).toBe(10);
    big.fill(2);
    expect([...stored]).toEqual(new Array(10).fill(1));
  });
});
