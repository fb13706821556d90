import { firstValueFrom } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { GroupMembership, type Member, ServiceDiscovery, type ServiceInstance } from '../src/index.js';
import { CutProxy, Fixture, text, waitFor, useR2Suite } from './r2-helpers.js';

const { ts, clients } = useR2Suite();

describe('GroupMembership', () => {
  it('join/leave/members$, and an id held by another session is refused', async () => {
    const a = await clients.connect(ts.connectString);
    const b = await clients.connect(ts.connectString);
    const ga = new GroupMembership(a, '/r2/group/a', { id: 'alpha', payload: 'A' });
    const gb = new GroupMembership(b, '/r2/group/a', { id: 'beta' });
    let latest: Member[] = [];
    const sub = ga.members$.subscribe((m) => (latest = m));
    await ga.join();
    await ga.join(); // idempotent for the same session
    await gb.join();
    await waitFor('two members', () => latest.length === 2);
    expect(latest.map((m) => m.id)).toEqual(['alpha', 'beta']);
    expect(text(latest[0]!.payload)).toBe('A');
    expect(latest[1]!.sessionId).toBe(b.sessionId);
    await expect(new GroupMembership(b, '/r2/group/a', { id: 'alpha' }).join()).rejects.toMatchObject({
      code: 'NODEEXISTS',
    });
    await gb.leave();
    await gb.leave();
    await waitFor('one member', () => latest.length === 1);
    await b.close();
    sub.unsubscribe();
  });

  it('a SIGKILLed member process disappears from members$ and instances$ once its session expires', async () => {
    const watcher = await clients.connect(ts.connectString);
    const group = new GroupMembership(watcher, '/r2/group/kill', { id: 'watcher' });
    const discovery = new ServiceDiscovery(watcher, '/r2/services');
    let members: Member[] = [];
    let instances: ServiceInstance[] = [];
    const subs = [
      group.members$.subscribe((m) => (members = m)),
      discovery.instances$('api').subscribe((i) => (instances = i)),
    ];
    const child = await Fixture.spawn({
      role: 'member',
      connectString: ts.connectString,
      sessionTimeoutMs: 1_000,
      path: '/r2/group/kill',
      basePath: '/r2/services',
      id: 'victim',
    });
    await child.line((l) => l.event === 'joined');
    await waitFor('victim visible', () => members.some((m) => m.id === 'victim') && instances.length === 1);
    expect(instances[0]).toMatchObject({ name: 'api', id: 'victim', address: '127.0.0.1', port: 8080 });
    const killedAt = Date.now();
    child.kill('SIGKILL');
    await waitFor(
      'victim gone',
      () => !members.some((m) => m.id === 'victim') && instances.length === 0,
      20_000,
    );
    const goneAfterMs = Date.now() - killedAt;
    console.log(`membership: SIGKILLed member gone after ${goneAfterMs} ms (session timeout 1000 ms)`);
    expect(goneAfterMs).toBeGreaterThanOrEqual(500);
    for (const s of subs) s.unsubscribe();
  }, 60_000);
});

describe('status$ of what we hold', () => {
  it('a member and a registration cut off past the session timeout report suspended, then lost', async () => {
    const proxy = await CutProxy.start(ts.server.port);
    try {
      const c = await clients.connect(proxy.connectString, 1_000);
      const group = new GroupMembership(c, '/r2/group/status', { id: 'me' });
      const groupSeen: string[] = [];
      group.status$.subscribe((s) => groupSeen.push(s));
      await group.join();
      const reg = await new ServiceDiscovery(c, '/r2/sd-status').register({
        name: 'svc',
        id: 'i1',
        address: 'h',
        port: 1,
      });
      const regSeen: string[] = [];
      reg.status$.subscribe((s) => regSeen.push(s));
      proxy.cut();
      await waitFor('both lost', () => groupSeen.at(-1) === 'lost' && regSeen.at(-1) === 'lost');
      expect(groupSeen).toEqual(['released', 'held', 'suspended', 'lost']);
      expect(regSeen).toEqual(['held', 'suspended', 'lost']);
      const observer = await clients.connect(ts.connectString);
      await waitFor('node gone', async () => (await observer.exists('/r2/group/status/me')) === null);
    } finally {
      await proxy.close();
    }
  }, 30_000);
});

describe('ServiceDiscovery', () => {
  it('registers, picks round-robin and random, and unregisters', async () => {
    const c = await clients.connect(ts.connectString);
    const d = new ServiceDiscovery(c, '/r2/sd');
    expect(await d.pick('web')).toBeNull();
    const regs = await Promise.all(
      [1, 2, 3].map((i) =>
        d.register({ name: 'web', id: `w${i}`, address: `10.0.0.${i}`, port: 80, payload: { zone: i } }),
      ),
    );
    const all = await firstValueFrom(d.instances$('web'));
    expect(all.map((i) => i.id)).toEqual(['w1', 'w2', 'w3']);
    expect(all[1]!.payload).toEqual({ zone: 2 });
    // The pick cache may still hold an older list: wait until it has all three.
    await waitFor('cache has 3', async () => {
      const seen = new Set<string>();
      for (let i = 0; i < 3; i++) seen.add((await d.pick('web'))!.id);
      return seen.size === 3;
    });
    const rr: string[] = [];
    for (let i = 0; i < 6; i++) rr.push((await d.pick('web', { strategy: 'round-robin' }))!.id);
    expect(new Set(rr.slice(0, 3)).size).toBe(3);
    expect(rr.slice(3)).toEqual(rr.slice(0, 3));
    expect(['w1', 'w2', 'w3']).toContain((await d.pick('web', { strategy: 'random' }))!.id);
    await regs[0]!.unregister();
    await waitFor('w1 gone from the pick cache', async () => {
      for (let i = 0; i < 4; i++) if ((await d.pick('web'))!.id === 'w1') return false;
      return true;
    });
    d.close();
  });
});
