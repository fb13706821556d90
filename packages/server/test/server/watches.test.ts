import { Xid } from '@conclave/core';
import { describe, expect, it } from 'vitest';
import { create, serverPerSuite, te, waitFor, WireClient } from './wire.js';

describe('watch delivery', () => {
  const srv = serverPerSuite({ fsync: false });

  it('a one-shot data watch fires once, before the response that reveals the change', async () => {
    const a = await WireClient.session(srv.url);
    const b = await WireClient.session(srv.url);
    await a.request(create('/o', 'v0'));
    await a.request({ op: 'getData', path: '/o', watch: true });
    await b.request({ op: 'setData', path: '/o', data: te.encode('v1'), version: -1 });
    await b.request({ op: 'setData', path: '/o', data: te.encode('v2'), version: -1 });
    // a's own next read must come after the notification
    const r = await a.request({ op: 'getData', path: '/o', watch: false });
    const iEvent = a.log.findIndex((f) => f.xid === Xid.NOTIFICATION);
    const iResp = a.log.indexOf(r);
    expect(iEvent).toBeGreaterThanOrEqual(0);
    expect(iEvent).toBeLessThan(iResp);
    expect(a.events.filter((e) => e.path === '/o').map((e) => e.type)).toEqual(['NodeDataChanged']);
    await Promise.all([a.closeSession(), b.closeSession()]);
  });

  it("the writer's own watch fires before its write's response", async () => {
    const a = await WireClient.session(srv.url);
    await a.request(create('/own'));
    await a.request({ op: 'exists', path: '/own', watch: true });
    const r = await a.request({ op: 'delete', path: '/own', version: -1 });
    const iEvent = a.log.findIndex((f) => f.xid === Xid.NOTIFICATION);
    expect(iEvent).toBeGreaterThanOrEqual(0);
    expect(iEvent).toBeLessThan(a.log.indexOf(r));
    expect(a.events[0]).toMatchObject({ type: 'NodeDeleted', path: '/own', zxid: r.zxid });
    await a.closeSession();
  });

  it('persistent watches fire for every change; child watches on create/delete', async () => {
    const a = await WireClient.session(srv.url);
    const b = await WireClient.session(srv.url);
    await a.request(create('/p'));
    await a.request({ op: 'addWatch', path: '/p', mode: 'PERSISTENT' });
    await a.request({ op: 'getChildren', path: '/p', watch: true });
    for (let i = 0; i < 3; i++)
      await b.request({ op: 'setData', path: '/p', data: te.encode(String(i)), version: -1 });
    await b.request(create('/p/c'));
    await waitFor(() => a.events.length >= 4, 5000, 'events');
    expect(a.events.map((e) => e.type)).toEqual([
      'NodeDataChanged',
      'NodeDataChanged',
      'NodeDataChanged',
      'NodeChildrenChanged',
    ]);
    await Promise.all([a.closeSession(), b.closeSession()]);
  });

  it('setWatches after a reconnect fires what was missed and re-arms the rest', async () => {
    const a = await WireClient.session(srv.url, { timeoutMs: 10_000 });
    const b = await WireClient.session(srv.url);
    await a.request(create('/sw1', 'x'));
    await a.request(create('/sw2', 'x'));
    const seen = srv.server.lastZxid;
    await a.drop();
    await b.request({ op: 'setData', path: '/sw1', data: te.encode('changed'), version: -1 });
    const back = await WireClient.open(srv.url);
    await back.handshake({ sessionId: a.sessionId, password: a.connect!.password, lastZxidSeen: seen });
    const r = await back.request({
      op: 'setWatches',
      relativeZxid: seen,
      dataWatches: ['/sw1', '/sw2'],
      existWatches: ['/sw3'],
      childWatches: [],
      persistentWatches: [],
      persistentRecursiveWatches: [],
    });
    expect(r.err).toBe(0);
    expect(back.events.map((e) => `${e.type} ${e.path}`)).toEqual(['NodeDataChanged /sw1']);
    // notifications come before the setWatches response
    expect(back.log.findIndex((f) => f.xid === Xid.NOTIFICATION)).toBeLessThan(back.log.indexOf(r));
    await b.request({ op: 'setData', path: '/sw2', data: te.encode('later'), version: -1 });
    await b.request(create('/sw3'));
    await waitFor(() => back.events.length === 3, 5000, 're-armed watches');
    expect(back.events.slice(1).map((e) => `${e.type} ${e.path}`)).toEqual([
      'NodeDataChanged /sw2',
      'NodeCreated /sw3',
    ]);
    await Promise.all([back.closeSession(), b.closeSession()]);
  });

  it('watches of a closed session are cleared', async () => {
    const a = await WireClient.session(srv.url);
    await a.request(create('/cl'));
    await a.request({ op: 'addWatch', path: '/cl', mode: 'PERSISTENT_RECURSIVE' });
    const before = await fetch(`${srv.server.adminUrl}/wchs`).then((r) => r.text());
    expect(before).toMatch(/Total watches:[1-9]/);
    await a.closeSession();
    const after = await fetch(`${srv.server.adminUrl}/wchs`).then((r) => r.text());
    expect(after).toMatch(/Total watches:0/);
  });
});
