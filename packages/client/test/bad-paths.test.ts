import {
  BadArgumentsError,
  CREATOR_ALL_ACL,
  type ConclaveError,
  NoAuthError,
  OPEN_ACL_UNSAFE,
  SessionExpiredError,
} from '@conclave/core';
import { firstValueFrom } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConclaveClient } from '../src/index.js';
import { TestServer } from './helpers.js';

/**
 * Every client API method against every way a call can be refused, asserting the typed error:
 * a closed client (SessionExpiredError, message says closed), an already aborted signal (the
 * signal's own reason), a bad path or argument (BadArgumentsError, nothing sent), and a node the
 * session may not touch (NoAuthError) for the calls ZooKeeper checks ACLs on.
 */

/** One API method, called with `path` (its only path, or the node it acts on) and `signal`. */
interface Method {
  name: string;
  run: (c: ConclaveClient, path: string, signal?: AbortSignal) => Promise<unknown>;
  /** False for the Observables, which take no signal. */
  takesSignal?: false;
  /** The call with a bad argument, when its only argument is not a path (null: it takes none). */
  bad?: ((c: ConclaveClient) => Promise<unknown>) | null;
  /** The path to call it on for NOAUTH; null when ZooKeeper checks no ACL for this call. */
  locked: string | null;
}

const listener = () => {};

const METHODS: Method[] = [
  { name: 'create', run: (c, p, signal) => c.create(p, 'x', { signal }), locked: '/locked/new' },
  {
    name: 'createWithStat',
    run: (c, p, signal) => c.createWithStat(p, 'x', { signal }),
    locked: '/locked/new',
  },
  { name: 'delete', run: (c, p, signal) => c.delete(p, { signal }), locked: '/locked/child' },
  { name: 'exists', run: (c, p, signal) => c.exists(p, { signal }), locked: null },
  { name: 'exists + watch', run: (c, p, signal) => c.exists(p, { signal, watch: listener }), locked: null },
  { name: 'getData', run: (c, p, signal) => c.getData(p, { signal }), locked: '/locked' },
  {
    name: 'getData + watch',
    run: (c, p, signal) => c.getData(p, { signal, watch: listener }),
    locked: '/locked',
  },
  { name: 'setData', run: (c, p, signal) => c.setData(p, 'x', { signal }), locked: '/locked' },
  { name: 'getChildren', run: (c, p, signal) => c.getChildren(p, { signal }), locked: '/locked' },
  {
    name: 'getChildren + watch',
    run: (c, p, signal) => c.getChildren(p, { signal, watch: listener }),
    locked: '/locked',
  },
  { name: 'getACL', run: (c, p, signal) => c.getACL(p, { signal }), locked: '/locked' },
  { name: 'setACL', run: (c, p, signal) => c.setACL(p, OPEN_ACL_UNSAFE, { signal }), locked: '/locked' },
  { name: 'sync', run: (c, p, signal) => c.sync(p, { signal }), locked: null },
  {
    name: 'multi',
    run: (c, p, signal) => c.multi([{ op: 'setData', path: p, data: 'x' }], { signal }),
    locked: '/locked',
  },
  {
    name: 'transaction().commit',
    run: async (c, p, signal) => c.transaction().setData(p, 'x').commit({ signal }),
    locked: '/locked',
  },
  {
    name: 'addWatch',
    run: (c, p, signal) => c.addWatch(p, 'PERSISTENT', listener, { signal }),
    locked: '/locked',
  },
  {
    name: 'addWatch recursive',
    run: (c, p, signal) => c.addWatch(p, 'PERSISTENT_RECURSIVE', listener, { signal }),
    locked: '/locked',
  },
  { name: 'removeWatches', run: (c, p, signal) => c.removeWatches(p, 'any', { signal }), locked: null },
  {
    name: 'addAuth',
    run: (c, _p, signal) => c.addAuth('digest', 'someone:pw', { signal }),
    bad: (c) => c.addAuth('', 'someone:pw'),
    locked: null,
  },
  { name: 'getEphemerals', run: (c, p, signal) => c.getEphemerals(p, { signal }), locked: null },
  {
    name: 'getAllChildrenNumber',
    run: (c, p, signal) => c.getAllChildrenNumber(p, { signal }),
    locked: '/locked',
  },
  { name: 'whoAmI', run: (c, _p, signal) => c.whoAmI({ signal }), bad: null, locked: null },
  { name: 'data$', run: async (c, p) => firstValueFrom(c.data$(p)), takesSignal: false, locked: '/locked' },
  {
    name: 'children$',
    run: async (c, p) => firstValueFrom(c.children$(p)),
    takesSignal: false,
    locked: '/locked',
  },
];

/** What the promise rejected with (fails the test if it resolved). */
async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

let srv: TestServer;
let owner: ConclaveClient;
let stranger: ConclaveClient;
let closed: ConclaveClient;

beforeAll(async () => {
  srv = await TestServer.start();
  owner = await srv.client('', { auth: [{ scheme: 'digest', auth: 'owner:pw' }] });
  await owner.create('/locked', 'secret', { acl: CREATOR_ALL_ACL });
  await owner.create('/locked/child', '', { acl: CREATOR_ALL_ACL });
  stranger = await srv.client();
  closed = await srv.client();
  await closed.close();
});
afterAll(async () => {
  await srv?.stop();
});

describe('every method on a closed client', () => {
  it.each(METHODS)('$name rejects with SessionExpiredError', async (m) => {
    const err = await rejection(m.run(closed, '/locked'));
    expect(err).toBeInstanceOf(SessionExpiredError);
    expect((err as Error).message).toContain('closed');
  });
});

describe('every method with an already aborted signal', () => {
  it.each(METHODS.filter((m) => m.takesSignal !== false))('$name rejects with the reason', async (m) => {
    const reason = new Error(`stop ${m.name}`);
    expect(await rejection(m.run(stranger, '/', AbortSignal.abort(reason)))).toBe(reason);
  });

  it('leaves no watch behind from an aborted addWatch', async () => {
    await rejection(stranger.addWatch('/', 'PERSISTENT', listener, { signal: AbortSignal.abort() }));
    const err = await rejection(stranger.removeWatches('/', 'persistent'));
    expect((err as ConclaveError).code).toBe('NOWATCHER');
  });
});

describe('every method with a bad path or argument', () => {
  const withBad = METHODS.filter((m) => m.bad !== null);
  it.each(withBad)('$name rejects with BadArgumentsError', async (m) => {
    for (const path of ['no-slash', '/trailing/', '/a//b', '/nul\u0000']) {
      const err = await rejection(m.bad ? m.bad(stranger) : m.run(stranger, path));
      expect(err, `${m.name}(${JSON.stringify(path)})`).toBeInstanceOf(BadArgumentsError);
    }
  });
});

describe('every ACL-checked method on a node the session may not touch', () => {
  it.each(METHODS.filter((m) => m.locked !== null))('$name rejects with NoAuthError', async (m) => {
    const err = await rejection(m.run(stranger, m.locked!));
    expect(err).toBeInstanceOf(NoAuthError);
    expect((err as ConclaveError).path).toBe(m.locked === '/locked/new' ? '/locked/new' : m.locked);
  });

  it('the owner is allowed all of them (the ACL, not the call, is what refuses)', async () => {
    expect((await owner.getData('/locked')).data.length).toBe(6);
    expect(await owner.getAllChildrenNumber('/locked')).toBe(1);
  });
});
