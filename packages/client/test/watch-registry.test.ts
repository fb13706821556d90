import type { WatchedEvent } from '@conclave/core';
import { describe, expect, it } from 'vitest';
import { WatchRegistry } from '../src/watch-registry.js';

const ev = (type: WatchedEvent['type'], path: string): WatchedEvent => ({ type, path, zxid: 1n });

describe('WatchRegistry.materialize (ZooKeeper rules)', () => {
  it('routes each event type to the right one-shot watches and removes them', () => {
    const r = new WatchRegistry();
    const data = () => {};
    const exist = () => {};
    const child = () => {};
    r.add('/a', 'data', data);
    r.add('/a', 'exist', exist);
    r.add('/a', 'child', child);
    expect([...r.materialize(ev('NodeChildrenChanged', '/a'))]).toEqual([child]);
    expect([...r.materialize(ev('NodeDataChanged', '/a'))]).toEqual([data, exist]);
    expect(r.materialize(ev('NodeDataChanged', '/a')).size).toBe(0); // one-shot
    r.add('/a', 'data', data);
    r.add('/a', 'child', child);
    expect(new Set(r.materialize(ev('NodeDeleted', '/a')))).toEqual(new Set([data, child]));
    expect(r.size).toBe(0);
  });

  it('keeps persistent watches, and recursive ones see descendants but not NodeChildrenChanged', () => {
    const r = new WatchRegistry();
    const p = () => {};
    const rec = () => {};
    r.add('/a', 'persistent', p);
    r.add('/a', 'persistentRecursive', rec);
    expect(new Set(r.materialize(ev('NodeChildrenChanged', '/a')))).toEqual(new Set([p]));
    expect(new Set(r.materialize(ev('NodeDataChanged', '/a')))).toEqual(new Set([p, rec]));
    expect(new Set(r.materialize(ev('NodeCreated', '/a/b/c')))).toEqual(new Set([rec]));
    expect(r.materialize(ev('NodeCreated', '/ab')).size).toBe(0);
    expect(r.paths().persistent).toEqual(['/a']);
  });

  it('calls a listener registered several ways once', () => {
    const r = new WatchRegistry();
    const l = () => {};
    r.add('/x', 'data', l);
    r.add('/x', 'exist', l);
    r.add('/', 'persistentRecursive', l);
    expect(r.materialize(ev('NodeDataChanged', '/x')).size).toBe(1);
  });

  it('removeAll reports the removed-watch event for each listener', () => {
    const r = new WatchRegistry();
    const a = () => {};
    const b = () => {};
    r.add('/x', 'data', a);
    r.add('/x', 'child', b);
    const removed = r.removeAll('/x', 'any');
    expect(removed.map((x) => x.event.type).sort()).toEqual(['ChildWatchRemoved', 'DataWatchRemoved']);
    expect(r.size).toBe(0);
  });

  it('remove reports whether the last listener of a watch went', () => {
    const r = new WatchRegistry();
    const a = () => {};
    const b = () => {};
    r.add('/x', 'persistent', a);
    r.add('/x', 'persistent', b);
    expect(r.remove('/x', 'persistent', a)).toBe(false);
    expect(r.remove('/x', 'persistent', a)).toBe(false);
    expect(r.remove('/x', 'persistent', b)).toBe(true);
  });
});
