import type { ConclaveClient } from '@conclave/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Mutex } from '../src/index.js';
import type { RecipeClient } from '../src/recipe-client.js';
import { Clients, startTestServer, waitFor } from './helpers.js';

/**
 * The requests a lock costs, counted against the real server. Unlike a rate, the count does not
 * depend on how loaded the machine is, so this is the benchmark's regression test: a hand-off is
 * the holder's delete (one write) → the next waiter's watch fires → its getChildren (one read) →
 * held; its create, first listing and watch happen while it waits, off the critical path. No
 * exists() of the parent, no sync(), no ensureContainer() once the lock node exists.
 */

type Op = 'create' | 'delete' | 'exists' | 'getData' | 'getChildren' | 'sync' | 'multi' | 'setData';
const OPS: readonly Op[] = [
  'create',
  'delete',
  'exists',
  'getData',
  'getChildren',
  'sync',
  'multi',
  'setData',
];

/** A RecipeClient that logs every request it forwards to `client`. */
function logging(client: ConclaveClient, log: string[]): RecipeClient {
  const wrapped: Record<string, unknown> = {
    get sessionId() {
      return client.sessionId;
    },
    get state() {
      return client.state;
    },
    get state$() {
      return client.state$;
    },
    addWatch: client.addWatch.bind(client),
  };
  for (const op of OPS) {
    const method = (client[op] as (...args: unknown[]) => Promise<unknown>).bind(client);
    wrapped[op] = (...args: unknown[]) => {
      log.push(op);
      return method(...args);
    };
  }
  return wrapped as unknown as RecipeClient;
}

let srv: Awaited<ReturnType<typeof startTestServer>>;
const clients = new Clients();
beforeAll(async () => {
  srv = await startTestServer();
});
afterAll(async () => {
  await clients.closeAll();
  await srv?.stop();
});

describe('Mutex round trips', () => {
  it('uncontended: create, getChildren, delete — nothing else once the lock node exists', async () => {
    const raw = await clients.connect(srv.server.connectString);
    await raw.create('/rt');
    await raw.create('/rt/a');
    await raw.create('/rt/a/keep'); // not a queue entry (no sequence suffix): ignored by the lock
    const log: string[] = [];
    const mutex = new Mutex(logging(await clients.connect(srv.server.connectString), log), '/rt/a');
    for (let i = 0; i < 3; i++) await (await mutex.acquire()).release();
    expect(log).toEqual(Array.from({ length: 3 }, () => ['create', 'getChildren', 'delete']).flat());
  });

  it('a hand-off costs the waiter one read after the holder’s delete', async () => {
    const holderLog: string[] = [];
    const waiterLog: string[] = [];
    const holder = await new Mutex(
      logging(await clients.connect(srv.server.connectString), holderLog),
      '/rt/b',
    ).acquire();
    const waiter = new Mutex(logging(await clients.connect(srv.server.connectString), waiterLog), '/rt/b');
    const pending = waiter.acquire();
    await waitFor('waiting on its predecessor', () => waiterLog.includes('exists'));
    expect(waiterLog).toEqual(['create', 'getChildren', 'exists']);
    waiterLog.length = 0;
    holderLog.length = 0;
    await holder.release();
    const lock = await pending;
    expect(holderLog).toEqual(['delete']);
    expect(waiterLog).toEqual(['getChildren']);
    await lock.release();
  });
});
