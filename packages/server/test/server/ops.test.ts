import { CreateMode, ErrorCode, Perms } from '@conclave/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { digestId } from '../../src/index.js';
import { create, OPEN, serverPerSuite, td, te, WireClient } from './wire.js';

/** Every request type through the real wire protocol: the happy path and the ZooKeeper error codes. */
describe('requests over the wire', () => {
  const srv = serverPerSuite({ fsync: false, superDigest: digestIdOf('super', 'secret') });
  let c: WireClient;

  beforeAll(async () => {
    c = await WireClient.session(srv.url);
  });

  it('create: persistent, sequential, ephemeral, container, TTL, and their errors', async () => {
    const r = await c.request(create('/c1', 'x'));
    expect(r).toMatchObject({ err: 0, path: '/c1' });
    expect((r.stat as { version: number }).version).toBe(0);
    expect((await c.request(create('/c1'))).err).toBe(ErrorCode.NODEEXISTS);
    expect((await c.request(create('/nope/child'))).err).toBe(ErrorCode.NONODE);
    expect((await c.request(create('bad-path'))).err).toBe(ErrorCode.BADARGUMENTS);
    const s1 = await c.request(create('/c1/q-', '', CreateMode.PERSISTENT_SEQUENTIAL));
    const s2 = await c.request(create('/c1/q-', '', CreateMode.PERSISTENT_SEQUENTIAL));
    expect(s1.path).toBe('/c1/q-0000000000');
    expect(s2.path).toBe('/c1/q-0000000001');
    const e = await c.request(create('/c1/eph', '', CreateMode.EPHEMERAL));
    expect((e.stat as { ephemeralOwner: bigint }).ephemeralOwner).toBe(c.sessionId);
    expect((await c.request(create('/c1/eph/kid'))).err).toBe(ErrorCode.NOCHILDRENFOREPHEMERALS);
    expect((await c.request(create('/cont', '', CreateMode.CONTAINER))).err).toBe(0);
    expect((await c.request(create('/ttl', '', CreateMode.PERSISTENT_WITH_TTL, { ttlMs: 60_000 }))).err).toBe(
      0,
    );
    expect((await c.request(create('/ttl2', '', CreateMode.PERSISTENT_WITH_TTL))).err).toBe(
      ErrorCode.BADARGUMENTS,
    );
    const big = { ...create('/big'), data: new Uint8Array(1024 * 1024 + 1) };
    expect((await c.request(big)).err).toBe(ErrorCode.BADARGUMENTS);
  });

  it('getData / setData / exists / delete with versions', async () => {
    await c.request(create('/d', 'v0'));
    const g = await c.request({ op: 'getData', path: '/d', watch: false });
    expect(td.decode(g.data as Uint8Array)).toBe('v0');
    const s = await c.request({ op: 'setData', path: '/d', data: te.encode('v1'), version: 0 });
    expect(s.err).toBe(0);
    expect((s.stat as { version: number }).version).toBe(1);
    expect((await c.request({ op: 'setData', path: '/d', data: te.encode('v2'), version: 0 })).err).toBe(
      ErrorCode.BADVERSION,
    );
    expect((await c.request({ op: 'setData', path: '/none', data: te.encode(''), version: -1 })).err).toBe(
      ErrorCode.NONODE,
    );
    expect((await c.request({ op: 'exists', path: '/d', watch: false })).err).toBe(0);
    expect((await c.request({ op: 'exists', path: '/none', watch: false })).err).toBe(ErrorCode.NONODE);
    expect((await c.request({ op: 'getData', path: '/none', watch: false })).err).toBe(ErrorCode.NONODE);
    await c.request(create('/d/kid'));
    expect((await c.request({ op: 'delete', path: '/d', version: -1 })).err).toBe(ErrorCode.NOTEMPTY);
    expect((await c.request({ op: 'delete', path: '/d/kid', version: 5 })).err).toBe(ErrorCode.BADVERSION);
    expect((await c.request({ op: 'delete', path: '/d/kid', version: 0 })).err).toBe(0);
    expect((await c.request({ op: 'delete', path: '/d', version: -1 })).err).toBe(0);
    expect((await c.request({ op: 'delete', path: '/d', version: -1 })).err).toBe(ErrorCode.NONODE);
  });

  it('getChildren, getAllChildrenNumber, getEphemerals, whoAmI', async () => {
    await c.request(create('/k'));
    await c.request(create('/k/a'));
    await c.request(create('/k/b'));
    await c.request(create('/k/a/x', '', CreateMode.EPHEMERAL));
    const r = await c.request({ op: 'getChildren', path: '/k', watch: false });
    expect((r.children as string[]).sort()).toEqual(['a', 'b']);
    expect((await c.request({ op: 'getChildren', path: '/none', watch: false })).err).toBe(ErrorCode.NONODE);
    expect((await c.request({ op: 'getAllChildrenNumber', path: '/k' })).count).toBe(3);
    const eph = await c.request({ op: 'getEphemerals', prefix: '/k' });
    expect(eph.paths).toEqual(['/k/a/x']);
    const who = await c.request({ op: 'whoAmI' });
    expect(who.ids).toEqual([]);
  });

  it('multi: all or nothing, check ops', async () => {
    const ok = await c.request({
      op: 'multi',
      ops: [create('/m') as never, create('/m/1') as never, { op: 'check', path: '/m', version: 0 }],
    });
    expect(ok.err).toBe(0);
    expect((ok.results as { op: string }[]).map((x) => x.op)).toEqual(['create', 'create', 'check']);
    const bad = await c.request({
      op: 'multi',
      ops: [create('/m/2') as never, { op: 'check', path: '/m', version: 42 }],
    });
    expect(bad.err).not.toBe(0);
    expect((await c.request({ op: 'exists', path: '/m/2', watch: false })).err).toBe(ErrorCode.NONODE);
    expect((await c.request({ op: 'check', path: '/m', version: 0 })).err).toBe(0);
  });

  it('sync answers after earlier writes, with the path', async () => {
    const w = c.request(create('/sy'));
    const s = await c.request({ op: 'sync', path: '/sy' });
    expect(s).toMatchObject({ err: 0, path: '/sy' });
    expect((await w).err).toBe(0);
  });

  it('ACLs are enforced on writes and reads; digest auth and the super user', async () => {
    const user = 'alice:pw';
    const acl = [{ perms: Perms.ALL, id: { scheme: 'digest', id: digestIdOf('alice', 'pw') } }];
    await c.request({ ...create('/secret', 'top'), acl } as never);
    const other = await WireClient.session(srv.url);
    expect((await other.request({ op: 'getData', path: '/secret', watch: false })).err).toBe(
      ErrorCode.NOAUTH,
    );
    expect((await other.request({ op: 'getChildren', path: '/secret', watch: false })).err).toBe(
      ErrorCode.NOAUTH,
    );
    expect((await other.request({ op: 'getACL', path: '/secret' })).err).toBe(ErrorCode.NOAUTH);
    expect(
      (await other.request({ op: 'setData', path: '/secret', data: te.encode('x'), version: -1 })).err,
    ).toBe(ErrorCode.NOAUTH);
    expect((await other.request(create('/secret/kid'))).err).toBe(ErrorCode.NOAUTH);
    // exists is not ACL-checked (as ZooKeeper)
    expect((await other.request({ op: 'exists', path: '/secret', watch: false })).err).toBe(0);
    expect((await other.request({ op: 'auth', scheme: 'digest', auth: te.encode(user) })).err).toBe(0);
    expect((await other.request({ op: 'getData', path: '/secret', watch: false })).err).toBe(0);
    const who = await other.request({ op: 'whoAmI' });
    expect(who.ids).toEqual([{ scheme: 'digest', id: digestIdOf('alice', 'pw') }]);
    const acls = await other.request({ op: 'getACL', path: '/secret' });
    expect(acls.acl).toEqual(acl);
    const set = await other.request({ op: 'setACL', path: '/secret', acl: OPEN, version: 0 });
    expect(set.err).toBe(0);
    expect((await other.request({ op: 'setACL', path: '/secret', acl: OPEN, version: 0 })).err).toBe(
      ErrorCode.BADVERSION,
    );
    expect((await other.request({ op: 'setACL', path: '/secret', acl: [], version: -1 })).err).toBe(
      ErrorCode.INVALIDACL,
    );
    await other.closeSession();

    await c.request({ ...create('/locked'), acl } as never);
    const su = await WireClient.session(srv.url);
    expect((await su.request({ op: 'getData', path: '/locked', watch: false })).err).toBe(ErrorCode.NOAUTH);
    expect((await su.request({ op: 'auth', scheme: 'digest', auth: te.encode('super:secret') })).err).toBe(0);
    expect((await su.request({ op: 'getData', path: '/locked', watch: false })).err).toBe(0);
    expect((await su.request({ op: 'delete', path: '/locked', version: -1 })).err).toBe(0);
    await su.closeSession();
  });

  it('ip ACLs match the socket address', async () => {
    const acl = [{ perms: Perms.ALL, id: { scheme: 'ip', id: '127.0.0.1' } }];
    expect((await c.request({ ...create('/iponly', 'x'), acl } as never)).err).toBe(0);
    expect((await c.request({ op: 'getData', path: '/iponly', watch: false })).err).toBe(0);
    const deny = [{ perms: Perms.ALL, id: { scheme: 'ip', id: '10.0.0.0/8' } }];
    expect((await c.request({ ...create('/ipother', 'x'), acl: deny } as never)).err).toBe(0);
    expect((await c.request({ op: 'getData', path: '/ipother', watch: false })).err).toBe(ErrorCode.NOAUTH);
  });

  it('a bad auth request is answered AUTHFAILED and the connection closed', async () => {
    const x = await WireClient.session(srv.url);
    const r = await x.request({ op: 'auth', scheme: 'digest', auth: te.encode('no-colon') });
    expect(r.err).toBe(ErrorCode.AUTHFAILED);
    const closed = await x.onClose();
    expect(closed.code).toBe(4008);
    const y = await WireClient.session(srv.url);
    expect((await y.request({ op: 'auth', scheme: 'kerberos', auth: te.encode('a:b') })).err).toBe(
      ErrorCode.AUTHFAILED,
    );
    await y.onClose();
  });

  it('watches: addWatch, removeWatches and NOWATCHER', async () => {
    await c.request(create('/w'));
    expect((await c.request({ op: 'addWatch', path: '/w', mode: 'PERSISTENT_RECURSIVE' })).err).toBe(0);
    await c.request(create('/w/a'));
    await c.request({ op: 'setData', path: '/w/a', data: te.encode('1'), version: -1 });
    expect(c.events.filter((e) => e.path.startsWith('/w')).map((e) => `${e.type} ${e.path}`)).toEqual([
      'NodeCreated /w/a',
      'NodeDataChanged /w/a',
    ]);
    expect((await c.request({ op: 'removeWatches', path: '/w', type: 'persistentRecursive' })).err).toBe(0);
    expect((await c.request({ op: 'removeWatches', path: '/w', type: 'persistentRecursive' })).err).toBe(
      ErrorCode.NOWATCHER,
    );
    expect((await c.request({ op: 'removeWatches', path: '/w', type: 'data' })).err).toBe(
      ErrorCode.NOWATCHER,
    );
  });

  it('ping answers with xid -2', async () => {
    const r = await c.request({ op: 'ping' });
    expect(r).toMatchObject({ xid: -2, err: 0 });
  });

  it('responses come back in request order, reads after the same session\u2019s writes', async () => {
    const promises = [];
    for (let i = 0; i < 50; i++) {
      promises.push(c.request(create(`/order${i}`, String(i))));
      promises.push(c.request({ op: 'getData', path: `/order${i}`, watch: false }));
    }
    const before = c.frames.length;
    const results = await Promise.all(promises);
    for (const r of results) expect(r.err).toBe(0);
    const xids = c.frames.slice(before).map((f) => f.xid);
    expect(xids).toEqual([...xids].sort((a, b) => a - b));
  });
});

function digestIdOf(user: string, pw: string): string {
  return digestId(user, pw);
}
