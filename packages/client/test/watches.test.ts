import { NoWatcherError, type WatchedEvent } from '@conclave/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConclaveClient } from '../src/index.js';
import { TestServer, waitFor } from './helpers.js';

let srv: TestServer;
let c: ConclaveClient;
let w: ConclaveClient; // a second session that writes

beforeAll(async () => {
  srv = await TestServer.start();
  c = await srv.client();
  w = await srv.client();
});
afterAll(async () => {
  await srv?.stop();
});

function recorder(): { events: WatchedEvent[]; listener: (e: WatchedEvent) => void } {
  const events: WatchedEvent[] = [];
  return { events, listener: (e) => events.push(e) };
}

describe('one-shot watches', () => {
  it('a data watch fires once, for the first change, with its zxid', async () => {
    await w.create('/d', 'a');
    const r = recorder();
    await c.getData('/d', { watch: r.listener });
    const s1 = await w.setData('/d', 'b');
    await w.setData('/d', 'c');
    await waitFor(() => r.events.length > 0, 'the data watch');
    await c.sync('/'); // anything still in flight for this session has arrived after this
    expect(r.events).toEqual([{ type: 'NodeDataChanged', path: '/d', zxid: s1.mzxid }]);
  });

  it('exists watches a missing node for NodeCreated and a present one for NodeDeleted', async () => {
    const r = recorder();
    expect(await c.exists('/e', { watch: r.listener })).toBeNull();
    await w.create('/e');
    await waitFor(() => r.events.length === 1, 'NodeCreated');
    expect(r.events[0]).toMatchObject({ type: 'NodeCreated', path: '/e' });
    expect(await c.exists('/e', { watch: r.listener })).not.toBeNull();
    await w.delete('/e');
    await waitFor(() => r.events.length === 2, 'NodeDeleted');
    expect(r.events[1]).toMatchObject({ type: 'NodeDeleted', path: '/e' });
  });

  it('a child watch fires NodeChildrenChanged once; deleting the node fires NodeDeleted for data and child watches', async () => {
    await w.create('/ch');
    const child = recorder();
    const data = recorder();
    await c.getChildren('/ch', { watch: child.listener });
    await w.create('/ch/1');
    await w.create('/ch/2');
    await waitFor(() => child.events.length > 0, 'the child watch');
    await c.sync('/');
    expect(child.events.map((e) => e.type)).toEqual(['NodeChildrenChanged']);
    await c.getChildren('/ch', { watch: child.listener });
    await c.getData('/ch', { watch: data.listener });
    await w.delete('/ch/1');
    await waitFor(() => child.events.length === 2, 'second child event');
    await c.getChildren('/ch', { watch: child.listener });
    await w.delete('/ch/2');
    await waitFor(() => child.events.length === 3, 'third child event');
    await c.getChildren('/ch', { watch: child.listener });
    await w.delete('/ch');
    await waitFor(() => child.events.length === 4 && data.events.length === 1, 'NodeDeleted');
    expect(child.events.at(-1)).toMatchObject({ type: 'NodeDeleted', path: '/ch' });
    // Children coming and going is no data change: the data watch saw only the deletion.
    expect(data.events.map((e) => e.type)).toEqual(['NodeDeleted']);
  });

  it('does not register a watch when the read fails', async () => {
    const r = recorder();
    await expect(c.getData('/nothing-here', { watch: r.listener })).rejects.toThrow('NONODE');
    await w.create('/nothing-here');
    await w.setData('/nothing-here', 'x');
    await c.sync('/');
    expect(r.events).toEqual([]);
  });
});

describe('ordering', () => {
  it('fires the watch before the response of the write that caused it resolves (same session)', async () => {
    await c.create('/o1');
    const order: string[] = [];
    await c.getData('/o1', { watch: () => order.push('event') });
    await c.setData('/o1', 'x').then(() => order.push('response'));
    expect(order).toEqual(['event', 'response']);
  });

  it('fires the watch before a later read that shows the change resolves (other session)', async () => {
    await w.create('/o2', 'old');
    const order: string[] = [];
    await c.getData('/o2', { watch: () => order.push('event') });
    await w.setData('/o2', 'new');
    const { data } = await c.getData('/o2');
    order.push(`read ${new TextDecoder().decode(data)}`);
    expect(order).toEqual(['event', 'read new']);
  });

  it('emits every notification as a "watch" event, and survives a listener that throws', async () => {
    await w.create('/o3');
    const seen: WatchedEvent[] = [];
    const errors: unknown[] = [];
    const onWatch = (e: WatchedEvent) => seen.push(e);
    const onError = (e: unknown) => errors.push(e);
    c.on('watch', onWatch);
    c.on('error', onError);
    const r = recorder();
    await c.getData('/o3', {
      watch: () => {
        throw new Error('listener bug');
      },
    });
    await c.exists('/o3', { watch: r.listener });
    await w.setData('/o3', 'x');
    await waitFor(() => r.events.length === 1 && seen.some((e) => e.path === '/o3'), 'the event');
    expect((errors[0] as Error).message).toBe('listener bug');
    c.off('watch', onWatch);
    c.off('error', onError);
  });
});

describe('persistent watches', () => {
  it('PERSISTENT fires for every change of the node and its children list until unsubscribed', async () => {
    await w.create('/pw');
    const r = recorder();
    const unsubscribe = await c.addWatch('/pw', 'PERSISTENT', r.listener);
    await w.setData('/pw', '1');
    await w.setData('/pw', '2');
    await w.create('/pw/kid');
    await w.create('/pw/kid/grandkid'); // not the node's own event: not seen
    await w.delete('/pw/kid/grandkid');
    await w.delete('/pw/kid');
    await w.delete('/pw');
    await waitFor(() => r.events.length === 5, 'five events');
    expect(r.events.map((e) => e.type)).toEqual([
      'NodeDataChanged',
      'NodeDataChanged',
      'NodeChildrenChanged',
      'NodeChildrenChanged',
      'NodeDeleted',
    ]);
    await w.create('/pw');
    await waitFor(() => r.events.length === 6, 'NodeCreated');
    await unsubscribe();
    await w.setData('/pw', 'after');
    await c.sync('/');
    expect(r.events).toHaveLength(6);
    // The server no longer has it either.
    await expect(c.removeWatches('/pw', 'persistent')).rejects.toBeInstanceOf(NoWatcherError);
  });

  it('PERSISTENT_RECURSIVE fires for the subtree, without NodeChildrenChanged', async () => {
    const r = recorder();
    const unsubscribe = await c.addWatch('/rec', 'PERSISTENT_RECURSIVE', r.listener);
    await w.create('/rec');
    await w.create('/rec/a');
    await w.create('/rec/a/b', 'x');
    await w.setData('/rec/a/b', 'y');
    await w.delete('/rec/a/b');
    await waitFor(() => r.events.length === 5, 'five events');
    expect(r.events.map((e) => `${e.type} ${e.path}`)).toEqual([
      'NodeCreated /rec',
      'NodeCreated /rec/a',
      'NodeCreated /rec/a/b',
      'NodeDataChanged /rec/a/b',
      'NodeDeleted /rec/a/b',
    ]);
    await unsubscribe();
    await unsubscribe(); // idempotent
  });

  it('keeps the server watch while another listener on it remains', async () => {
    await w.create('/shared');
    const a = recorder();
    const b = recorder();
    const unA = await c.addWatch('/shared', 'PERSISTENT', a.listener);
    const unB = await c.addWatch('/shared', 'PERSISTENT', b.listener);
    await unA();
    await w.setData('/shared', '1');
    await waitFor(() => b.events.length === 1, 'b sees the change');
    await c.sync('/');
    expect(a.events).toEqual([]);
    await unB();
  });
});

describe('removeWatches', () => {
  it('removes one-shot watches server and client side and tells their listeners', async () => {
    await w.create('/rw');
    const r = recorder();
    await c.getData('/rw', { watch: r.listener });
    await c.getChildren('/rw', { watch: r.listener });
    await c.removeWatches('/rw', 'data');
    expect(r.events.map((e) => e.type)).toEqual(['DataWatchRemoved']);
    await w.setData('/rw', 'x');
    await w.create('/rw/c');
    await waitFor(() => r.events.length === 2, 'the child watch still fires');
    expect(r.events[1]).toMatchObject({ type: 'NodeChildrenChanged', path: '/rw' });
    await expect(c.removeWatches('/rw', 'any')).rejects.toBeInstanceOf(NoWatcherError);
    await expect(c.removeWatches('/rw', 'bogus' as never)).rejects.toThrow('BADARGUMENTS');
  });
});
