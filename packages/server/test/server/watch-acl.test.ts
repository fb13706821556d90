import { ErrorCode, Perms, type Request } from '@conclave/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { digestId } from '../../src/index.js';
import { create, serverPerSuite, te, waitFor, WireClient } from './wire.js';

/**
 * ZooKeeper CVE-2024-23944: watch events must not reveal what a read would refuse. A session only
 * hears about a node it may READ (for a delete: the ACL the node had), and cannot add or
 * re-register (setWatches) a watch on an existing node it may not read.
 */
describe('watches respect ACLs', () => {
  const srv = serverPerSuite({ fsync: false });
  const SECRET = [{ perms: Perms.ALL, id: { scheme: 'digest', id: digestId('admin', 'pw') } }];
  let admin: WireClient;

  const secretNode = (path: string, data = ''): Request =>
    ({ ...create(path, data), acl: SECRET }) as Request;
  const login = async (c: WireClient) =>
    expect((await c.request({ op: 'auth', scheme: 'digest', auth: te.encode('admin:pw') })).err).toBe(0);
  /** Changes /public; once `c` hears of it, anything sent to `c` before it has arrived too. */
  async function barrier(c: WireClient): Promise<void> {
    const before = c.events.filter((e) => e.path === '/public').length;
    expect(
      (await admin.request({ op: 'setData', path: '/public', data: te.encode('tick'), version: -1 })).err,
    ).toBe(0);
    await waitFor(
      () => c.events.filter((e) => e.path === '/public').length > before,
      20_000,
      'the barrier event',
    );
  }

  beforeAll(async () => {
    admin = await WireClient.session(srv.url);
    await login(admin);
    expect((await admin.request(create('/public'))).err).toBe(0);
    expect((await admin.request(secretNode('/secret', 'top'))).err).toBe(0);
  });

  it('an unauthenticated recursive watcher on / does not see /secret/child events', async () => {
    const spy = await WireClient.session(srv.url);
    expect((await spy.request({ op: 'addWatch', path: '/', mode: 'PERSISTENT_RECURSIVE' })).err).toBe(0);
    const friend = await WireClient.session(srv.url);
    await login(friend);
    expect((await friend.request({ op: 'addWatch', path: '/', mode: 'PERSISTENT_RECURSIVE' })).err).toBe(0);

    expect((await admin.request(secretNode('/secret/child', 'x'))).err).toBe(0);
    expect(
      (await admin.request({ op: 'setData', path: '/secret/child', data: te.encode('y'), version: -1 })).err,
    ).toBe(0);
    expect(
      (await admin.request({ op: 'setData', path: '/secret', data: te.encode('z'), version: -1 })).err,
    ).toBe(0);
    expect((await admin.request({ op: 'delete', path: '/secret/child', version: -1 })).err).toBe(0);
    // an open node under a secret one is readable, so its events are delivered
    expect((await admin.request(create('/secret/open'))).err).toBe(0);
    await barrier(spy);
    await barrier(friend);

    expect(spy.events.filter((e) => e.path !== '/public').map((e) => `${e.type} ${e.path}`)).toEqual([
      'NodeCreated /secret/open',
    ]);
    // a session holding the right id hears everything, the delete included
    expect(friend.events.filter((e) => e.path !== '/public').map((e) => `${e.type} ${e.path}`)).toEqual([
      'NodeCreated /secret/child',
      'NodeDataChanged /secret/child',
      'NodeDataChanged /secret',
      'NodeDeleted /secret/child',
      'NodeCreated /secret/open',
    ]);
    expect((await admin.request({ op: 'delete', path: '/secret/open', version: -1 })).err).toBe(0);
    await Promise.all([spy.closeSession(), friend.closeSession()]);
  });

  it('one-shot watches set without a READ check (exists) stay silent on an unreadable node', async () => {
    const spy = await WireClient.session(srv.url);
    expect((await spy.request({ op: 'exists', path: '/secret', watch: true })).err).toBe(0);
    expect((await spy.request({ op: 'exists', path: '/secret/later', watch: true })).err).toBe(
      ErrorCode.NONODE,
    );
    expect((await spy.request({ op: 'getData', path: '/public', watch: true })).err).toBe(0);
    expect(
      (await admin.request({ op: 'setData', path: '/secret', data: te.encode('w'), version: -1 })).err,
    ).toBe(0);
    expect((await admin.request(secretNode('/secret/later'))).err).toBe(0);
    expect(
      (await admin.request({ op: 'setData', path: '/public', data: te.encode('p'), version: -1 })).err,
    ).toBe(0);
    await waitFor(() => spy.events.some((e) => e.path === '/public'), 20_000, 'the /public data watch');
    expect(spy.events.map((e) => e.path)).toEqual(['/public']);
    expect((await admin.request({ op: 'delete', path: '/secret/later', version: -1 })).err).toBe(0);
    await spy.closeSession();
  });

  it('addWatch on a node the session may not read fails with NOAUTH', async () => {
    const spy = await WireClient.session(srv.url);
    for (const mode of ['PERSISTENT', 'PERSISTENT_RECURSIVE'] as const) {
      expect((await spy.request({ op: 'addWatch', path: '/secret', mode })).err).toBe(ErrorCode.NOAUTH);
    }
    // on a readable node, or on one that does not exist yet, it is fine
    expect((await spy.request({ op: 'addWatch', path: '/public', mode: 'PERSISTENT' })).err).toBe(0);
    expect((await spy.request({ op: 'addWatch', path: '/nothing/yet', mode: 'PERSISTENT' })).err).toBe(0);
    await login(spy);
    expect((await spy.request({ op: 'addWatch', path: '/secret', mode: 'PERSISTENT' })).err).toBe(0);
    await spy.closeSession();
  });

  it('setWatches silently skips nodes the session may not read', async () => {
    const spy = await WireClient.session(srv.url);
    const r = await spy.request({
      op: 'setWatches',
      relativeZxid: 0n, // everything "changed" since: readable watches fire at once
      dataWatches: ['/secret', '/public'],
      existWatches: ['/secret'],
      childWatches: ['/secret'],
      persistentWatches: ['/secret'],
      persistentRecursiveWatches: ['/secret'],
    });
    expect(r.err).toBe(0);
    // only /public's missed change fires; nothing about /secret, now or later
    expect(spy.events.map((e) => `${e.type} ${e.path}`)).toEqual(['NodeDataChanged /public']);
    expect((await spy.request({ op: 'addWatch', path: '/public', mode: 'PERSISTENT' })).err).toBe(0);
    expect(
      (await admin.request({ op: 'setData', path: '/secret', data: te.encode('v'), version: -1 })).err,
    ).toBe(0);
    expect((await admin.request(secretNode('/secret/kid'))).err).toBe(0);
    await barrier(spy);
    expect(spy.events.filter((e) => e.path.startsWith('/secret'))).toEqual([]);
    expect((await admin.request({ op: 'delete', path: '/secret/kid', version: -1 })).err).toBe(0);
    await spy.closeSession();
  });
});
