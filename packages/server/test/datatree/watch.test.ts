import { CreateMode, OPEN_ACL_UNSAFE, type WatchedEvent } from '@conclave/core';
import { describe, expect, test } from 'vitest';
import { type ApplyResult, WatchManager, type WriteRequest } from '../../src/datatree/index.js';
import { bytes, Harness } from './harness.js';

const acl = [...OPEN_ACL_UNSAFE];
const create = (path: string): WriteRequest => ({
  op: 'create',
  path,
  data: bytes(''),
  acl,
  mode: CreateMode.PERSISTENT,
});
const S1 = 1n;
const S2 = 2n;

function fire(h: Harness, w: WatchManager, req: WriteRequest): Map<bigint, WatchedEvent[]> {
  const r: ApplyResult = h.run(req);
  return w.trigger(r.events, h.zxid);
}
const types = (m: Map<bigint, WatchedEvent[]>, s: bigint): string[] =>
  (m.get(s) ?? []).map((e) => `${e.type} ${e.path}`);

describe('one-shot watches', () => {
  test('exist watch on a missing node fires NodeCreated once; parent child watch fires NodeChildrenChanged', () => {
    const h = new Harness();
    h.openSession(1n);
    const w = new WatchManager();
    w.add(S1, '/a', 'exist');
    w.add(S2, '/', 'child');
    const m = fire(h, w, create('/a'));
    expect(types(m, S1)).toEqual(['NodeCreated /a']);
    expect(types(m, S2)).toEqual(['NodeChildrenChanged /']);
    expect(m.get(S1)?.[0]?.zxid).toBe(h.zxid);
    expect(w.count()).toBe(0);
    expect(fire(h, w, create('/b')).size).toBe(0);
  });

  test('data watch fires NodeDataChanged, then is gone', () => {
    const h = new Harness();
    h.openSession(1n);
    const w = new WatchManager();
    h.run(create('/a'));
    w.add(S1, '/a', 'data');
    expect(types(fire(h, w, { op: 'setData', path: '/a', data: bytes('x'), version: -1 }), S1)).toEqual([
      'NodeDataChanged /a',
    ]);
    expect(fire(h, w, { op: 'setData', path: '/a', data: bytes('y'), version: -1 }).size).toBe(0);
  });

  test('NodeDeleted fires data and child watches on the path (once per session) and the parent child watch', () => {
    const h = new Harness();
    h.openSession(1n);
    const w = new WatchManager();
    h.run(create('/a'));
    h.run(create('/a/b'));
    w.add(S1, '/a/b', 'data');
    w.add(S1, '/a/b', 'child');
    w.add(S2, '/a', 'child');
    w.add(S2, '/a', 'data');
    const m = fire(h, w, { op: 'delete', path: '/a/b', version: -1 });
    expect(types(m, S1)).toEqual(['NodeDeleted /a/b']);
    expect(types(m, S2)).toEqual(['NodeChildrenChanged /a']);
    expect(w.count(S1)).toBe(0);
    expect(w.count(S2)).toBe(1); // the data watch on /a did not fire
  });

  test('setACL fires nothing', () => {
    const h = new Harness();
    h.openSession(1n);
    const w = new WatchManager();
    h.run(create('/a'));
    w.add(S1, '/a', 'data');
    expect(fire(h, w, { op: 'setACL', path: '/a', acl, version: -1 }).size).toBe(0);
    expect(w.count(S1)).toBe(1);
  });
});

describe('persistent watches', () => {
  test('persistent fires on every change at the path, including children, and stays', () => {
    const h = new Harness();
    h.openSession(1n);
    const w = new WatchManager();
    w.add(S1, '/a', 'persistent');
    expect(types(fire(h, w, create('/a')), S1)).toEqual(['NodeCreated /a']);
    expect(types(fire(h, w, create('/a/b')), S1)).toEqual(['NodeChildrenChanged /a']);
    expect(types(fire(h, w, { op: 'setData', path: '/a', data: bytes('1'), version: -1 }), S1)).toEqual([
      'NodeDataChanged /a',
    ]);
    expect(types(fire(h, w, create('/a/b/c')), S1)).toEqual([]);
    expect(w.count(S1)).toBe(1);
  });

  test('persistent-recursive fires for the path and descendants, never NodeChildrenChanged, once per session', () => {
    const h = new Harness();
    h.openSession(1n);
    const w = new WatchManager();
    w.add(S1, '/a', 'persistentRecursive');
    w.add(S1, '/a/b', 'persistentRecursive');
    w.add(S1, '/a/b', 'data');
    expect(types(fire(h, w, create('/a')), S1)).toEqual(['NodeCreated /a']);
    expect(types(fire(h, w, create('/a/b')), S1)).toEqual(['NodeCreated /a/b']);
    expect(types(fire(h, w, create('/a/b/c')), S1)).toEqual(['NodeCreated /a/b/c']);
    expect(types(fire(h, w, { op: 'delete', path: '/a/b/c', version: -1 }), S1)).toEqual([
      'NodeDeleted /a/b/c',
    ]);
    expect(types(fire(h, w, create('/x')), S1)).toEqual([]);
    expect(w.count(S1)).toBe(2);
  });
});

describe('removal, sessions, limits', () => {
  test('remove by type, NOWATCHER as false, removeSession', () => {
    const w = new WatchManager();
    w.add(S1, '/a', 'data');
    w.add(S1, '/a', 'child');
    w.add(S1, '/a', 'persistent');
    expect(w.remove(S1, '/a', 'children')).toBe(true);
    expect(w.remove(S1, '/a', 'children')).toBe(false);
    expect(w.remove(S2, '/a', 'any')).toBe(false);
    expect(w.count(S1)).toBe(2);
    expect(w.remove(S1, '/a', 'any')).toBe(true);
    expect(w.count(S1)).toBe(0);
    w.add(S1, '/x', 'persistentRecursive');
    w.add(S1, '/y', 'exist');
    w.removeSession(S1);
    expect(w.count()).toBe(0);
    expect(w.watchedPathCount).toBe(0);
  });

  test('maxWatchesPerSession is enforced with a clear error; re-adding is free', () => {
    const w = new WatchManager({ maxWatchesPerSession: 2 });
    w.add(S1, '/a', 'data');
    w.add(S1, '/a', 'data');
    w.add(S1, '/b', 'data');
    expect(() => w.add(S1, '/c', 'data')).toThrow(/maxWatchesPerSession/);
    w.add(S2, '/c', 'data');
    expect(w.count()).toBe(3);
  });
});

describe('setWatches after a reconnect', () => {
  test('missed changes fire, the rest is registered again', () => {
    const h = new Harness();
    h.openSession(1n);
    h.run(create('/same'));
    h.run(create('/changed'));
    h.run(create('/kids'));
    h.run(create('/gone'));
    const seen = h.zxid;
    h.run({ op: 'setData', path: '/changed', data: bytes('x'), version: -1 });
    h.run(create('/kids/k'));
    h.run({ op: 'delete', path: '/gone', version: -1 });
    h.run(create('/born'));
    const w = new WatchManager();
    const fired = w.setWatches(
      S1,
      {
        op: 'setWatches',
        relativeZxid: seen,
        dataWatches: ['/same', '/changed', '/gone'],
        existWatches: ['/born', '/unborn'],
        childWatches: ['/same', '/kids', '/gone'],
        persistentWatches: ['/p'],
        persistentRecursiveWatches: ['/r'],
      },
      h.db,
    );
    expect(fired.map((e) => `${e.type} ${e.path}`)).toEqual([
      'NodeDataChanged /changed',
      'NodeDeleted /gone',
      'NodeCreated /born',
      'NodeChildrenChanged /kids',
      'NodeDeleted /gone',
    ]);
    expect(w.watchesOf(S1).sort((a, b) => a.path.localeCompare(b.path))).toEqual([
      { path: '/p', kinds: ['persistent'] },
      { path: '/r', kinds: ['persistentRecursive'] },
      { path: '/same', kinds: ['data', 'child'] },
      { path: '/unborn', kinds: ['exist'] },
    ]);
  });

  test('setWatches over the limit is refused before registering anything', () => {
    const h = new Harness();
    h.openSession(1n);
    const w = new WatchManager({ maxWatchesPerSession: 1 });
    const req = {
      op: 'setWatches' as const,
      relativeZxid: 0n,
      dataWatches: [],
      existWatches: ['/x', '/y'],
      childWatches: [],
      persistentWatches: [],
      persistentRecursiveWatches: [],
    };
    expect(() => w.setWatches(S1, req, h.db)).toThrow(expect.objectContaining({ code: 'QUOTAEXCEEDED' }));
    expect(w.count()).toBe(0);
  });

  test('watches the session already holds do not count again when a reconnect re-sends them', () => {
    const h = new Harness();
    h.openSession(1n);
    h.run(create('/a'));
    h.run(create('/b'));
    const w = new WatchManager({ maxWatchesPerSession: 3 });
    w.add(S1, '/a', 'data');
    w.add(S1, '/b', 'data');
    const req = {
      op: 'setWatches' as const,
      relativeZxid: h.zxid,
      dataWatches: ['/a', '/b', '/b'],
      existWatches: ['/c'],
      childWatches: [],
      persistentWatches: [],
      persistentRecursiveWatches: [],
    };
    expect(w.setWatches(S1, req, h.db)).toEqual([]);
    expect(w.count(S1)).toBe(3);
    // One genuinely new watch over the quota is still refused.
    expect(() => w.setWatches(S1, { ...req, childWatches: ['/a'] }, h.db)).toThrow(
      expect.objectContaining({ code: 'QUOTAEXCEEDED' }),
    );
  });
});
