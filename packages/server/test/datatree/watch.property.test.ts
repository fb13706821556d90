import { CreateMode, OPEN_ACL_UNSAFE, type WatchedEvent } from '@conclave/core';
import fc from 'fast-check';
import { expect, test } from 'vitest';
import { type TreeEvent, type WatchKind, WatchManager, type WriteRequest } from '../../src/datatree/index.js';
import { bytes, Harness } from './harness.js';

/** ZooKeeper's watch rules written as literally as possible: a list of watches, scanned per event. */
class WatchModel {
  watches: { sid: bigint; path: string; kind: WatchKind }[] = [];

  add(sid: bigint, path: string, kind: WatchKind): void {
    if (!this.watches.some((w) => w.sid === sid && w.path === path && w.kind === kind)) {
      this.watches.push({ sid, path, kind });
    }
  }

  private matches(w: { path: string; kind: WatchKind }, e: TreeEvent): boolean {
    const here = w.path === e.path;
    switch (w.kind) {
      case 'data':
      case 'exist':
        return here && e.type !== 'NodeChildrenChanged';
      case 'child':
        return here && (e.type === 'NodeChildrenChanged' || e.type === 'NodeDeleted');
      case 'persistent':
        return here;
      case 'persistentRecursive': {
        const under = w.path === '/' ? true : e.path === w.path || e.path.startsWith(`${w.path}/`);
        return under && e.type !== 'NodeChildrenChanged';
      }
    }
  }

  trigger(events: TreeEvent[], zxid: bigint): Map<bigint, WatchedEvent[]> {
    const out = new Map<bigint, WatchedEvent[]>();
    for (const e of events) {
      const hit = this.watches.filter((w) => this.matches(w, e));
      for (const sid of new Set(hit.map((w) => w.sid))) {
        out.set(sid, [...(out.get(sid) ?? []), { type: e.type, path: e.path, zxid }]);
      }
      this.watches = this.watches.filter(
        (w) => !(hit.includes(w) && (w.kind === 'data' || w.kind === 'exist' || w.kind === 'child')),
      );
    }
    return out;
  }
}

const path = fc.constantFrom('/', '/a', '/a/b', '/a/b/c', '/b', '/b/a');
const kind = fc.constantFrom<WatchKind>('data', 'exist', 'child', 'persistent', 'persistentRecursive');
const sid = fc.constantFrom(1n, 2n, 3n);
const acl = [...OPEN_ACL_UNSAFE];
const step = fc.oneof(
  fc.record({ t: fc.constant('watch' as const), sid, path, kind }),
  fc.record({ t: fc.constant('create' as const), path, ephemeral: fc.boolean() }),
  fc.record({ t: fc.constant('delete' as const), path }),
  fc.record({ t: fc.constant('setData' as const), path }),
);

test('WatchManager fires exactly what the literal rules say', () => {
  fc.assert(
    fc.property(fc.array(step, { minLength: 1, maxLength: 60 }), (steps) => {
      const h = new Harness();
      h.openSession(1n);
      const w = new WatchManager();
      const model = new WatchModel();
      for (const s of steps) {
        if (s.t === 'watch') {
          w.add(s.sid, s.path, s.kind);
          model.add(s.sid, s.path, s.kind);
          continue;
        }
        const req: WriteRequest =
          s.t === 'create'
            ? {
                op: 'create',
                path: s.path,
                data: bytes(''),
                acl,
                mode: s.ephemeral ? CreateMode.EPHEMERAL : CreateMode.PERSISTENT,
              }
            : s.t === 'delete'
              ? { op: 'delete', path: s.path, version: -1 }
              : { op: 'setData', path: s.path, data: bytes('x'), version: -1 };
        const r = h.run(req);
        const real = w.trigger(r.events, h.zxid);
        const expected = model.trigger(r.events, h.zxid);
        expect(new Map([...real].sort())).toEqual(new Map([...expected].sort()));
        expect(w.count()).toBe(model.watches.length);
      }
    }),
    { numRuns: 200 },
  );
});
