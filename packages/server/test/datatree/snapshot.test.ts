import { CreateMode, encodeFrame, OPEN_ACL_UNSAFE, READ_ACL_UNSAFE } from '@conclave/core';
import { describe, expect, test } from 'vitest';
import { Database, type WriteRequest } from '../../src/datatree/index.js';
import { bytes, Harness } from './harness.js';

const acl = [...OPEN_ACL_UNSAFE];
const create = (path: string, mode: number = CreateMode.PERSISTENT, ttlMs?: number): WriteRequest =>
  ({ op: 'create', path, data: bytes(path), acl, mode, ...(ttlMs ? { ttlMs } : {}) }) as WriteRequest;

function populated(): Harness {
  const h = new Harness();
  h.openSession(1n);
  h.openSession(3n);
  h.run(create('/app'));
  for (let i = 0; i < 2500; i++) h.run(create(`/app/n${i}`));
  h.run(create('/app/n7/e', CreateMode.EPHEMERAL), 3n);
  h.run(create('/box', CreateMode.CONTAINER));
  h.run(create('/box/x'));
  h.run({ op: 'delete', path: '/box/x', version: -1 });
  h.run(create('/ttl', CreateMode.PERSISTENT_WITH_TTL, 1000));
  h.run({ op: 'setACL', path: '/app/n5', acl: [...READ_ACL_UNSAFE], version: -1 });
  h.run({ op: 'setData', path: '/app/n9', data: new Uint8Array(300).fill(9), version: -1 });
  return h;
}

async function* slowly(chunks: Iterable<Uint8Array>): AsyncIterable<Uint8Array> {
  for (const c of chunks) {
    await new Promise((r) => setImmediate(r));
    yield c;
  }
}

describe('snapshot round trip', () => {
  test('restores structure, Stats, data, ACLs, sessions, indexes and digest', async () => {
    const h = populated();
    const chunks = [...h.db.serialize()];
    expect(chunks.length).toBeGreaterThan(3); // header, batches of ≤ 1000 nodes, trailer
    const db = await Database.restore(chunks);
    expect(db.digest()).toBe(h.db.digest());
    expect(db.lastZxid).toBe(h.db.lastZxid);
    expect(db.tree.nodeCount).toBe(h.db.tree.nodeCount);
    for (const p of h.db.tree.paths()) {
      expect(db.tree.exists(p), p).toEqual(h.db.tree.exists(p));
      expect(db.tree.getData(p).data).toEqual(h.db.tree.getData(p).data);
      expect(db.tree.getACL(p).acl).toEqual(h.db.tree.getACL(p).acl);
      expect(db.tree.getChildren(p).children.sort()).toEqual(h.db.tree.getChildren(p).children.sort());
    }
    expect([...db.sessions]).toEqual([...h.db.sessions]);
    expect(db.ephemeralsOf(3n)).toEqual(['/app/n7/e']);
    expect(db.containerCandidates()).toEqual(['/box']);
    const t = db.tree.exists('/ttl')!.mtime;
    expect(db.ttlExpired(t + 1001)).toEqual(['/ttl']);
    // The restored database keeps working: same txns, same digest.
    const zxid = h.db.lastZxid + 1n;
    for (const d of [h.db, db]) {
      d.apply({
        zxid,
        sessionId: 3n,
        cxid: 0,
        time: 5,
        txn: { type: 'closeSession', ephemerals: ['/app/n7/e'] },
      });
    }
    expect(db.digest()).toBe(h.db.digest());
  });

  test('the image is the state at serialize() time even when apply runs between chunks', async () => {
    const h = populated();
    const digest = h.db.digest();
    const lastZxid = h.db.lastZxid;
    const count = h.db.tree.nodeCount;
    const image = h.db.serialize();
    const restoring = Database.restore(slowly(image));
    for (let i = 0; i < 50; i++) {
      h.run({ op: 'setData', path: `/app/n${i}`, data: bytes('changed'), version: -1 });
      h.run({ op: 'delete', path: `/app/n${1000 + i}`, version: -1 });
      await new Promise((r) => setImmediate(r));
    }
    const db = await restoring;
    expect(db.digest()).toBe(digest);
    expect(db.lastZxid).toBe(lastZxid);
    expect(db.tree.nodeCount).toBe(count);
    expect(db.tree.getData('/app/n1').data).toEqual(bytes('/app/n1'));
  });

  test('corrupt or truncated snapshots are refused with MarshallingError', async () => {
    const h = populated();
    const chunks = [...h.db.serialize()];
    await expect(Database.restore(chunks.slice(0, -1))).rejects.toThrow(/truncated/);
    await expect(Database.restore([])).rejects.toThrow(/empty snapshot/);
    await expect(Database.restore([chunks[0]!, chunks[2]!, ...chunks.slice(3)])).rejects.toThrow(
      /corrupt snapshot/,
    );
    await expect(Database.restore([encodeFrame({ hello: 1 })])).rejects.toThrow(/missing header/);
    const bad = chunks.slice();
    bad[bad.length - 1] = encodeFrame({
      end: true,
      nodeCount: h.db.tree.nodeCount,
      sessionCount: 1,
      digest: '0',
    });
    await expect(Database.restore(bad)).rejects.toThrow(/digest/);
  });
});
