import { NoNodeError, type WatchedEvent } from '@conclave/core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { ConclaveClient } from '../src/index.js';
import { TestServer, waitFor } from './helpers.js';

let srv: TestServer;
let root: ConclaveClient;
let app: ConclaveClient;

beforeAll(async () => {
  srv = await TestServer.start();
  root = await srv.client();
  await root.create('/app');
  app = await srv.client('/app');
});
afterAll(async () => {
  await srv?.stop();
});

it('maps request paths, created paths and child names through the chroot', async () => {
  expect(await app.create('/x', 'in app')).toBe('/x');
  expect(await root.exists('/app/x')).not.toBeNull();
  expect(await root.exists('/x')).toBeNull();
  const seq = await app.create('/x/s-', '', { mode: 'EPHEMERAL_SEQUENTIAL' });
  expect(seq).toMatch(/^\/x\/s-\d{10}$/);
  expect((await app.getChildren('/')).children).toEqual(['x']);
  expect(await app.getEphemerals()).toEqual([seq]);
  expect((await app.exists('/'))?.czxid).toBe((await root.exists('/app'))?.czxid);
  const results = await app.transaction().create('/y').delete('/y').create('/z').commit();
  expect(results[0]).toMatchObject({ op: 'create', path: '/y' });
  expect(await root.exists('/app/z')).not.toBeNull();
});

it('delivers watch events with client paths, and only for the chroot', async () => {
  const events: WatchedEvent[] = [];
  const unsubscribe = await app.addWatch('/', 'PERSISTENT_RECURSIVE', (e) => events.push(e));
  const data: WatchedEvent[] = [];
  await app.exists('/w', { watch: (e) => data.push(e) });
  await root.create('/outside');
  await root.create('/app/w');
  await waitFor(() => data.length === 1 && events.length === 1, 'the events');
  expect(data[0]).toMatchObject({ type: 'NodeCreated', path: '/w' });
  expect(events[0]).toMatchObject({ type: 'NodeCreated', path: '/w' });
  await unsubscribe();
});

it('fails with NoNodeError when the chroot node does not exist', async () => {
  const lost = await srv.client('/missing');
  await expect(lost.create('/a')).rejects.toBeInstanceOf(NoNodeError);
  await expect(lost.exists('/')).resolves.toBeNull();
});
