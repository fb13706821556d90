import { createHash } from 'node:crypto';
import {
  AuthFailedError,
  BadArgumentsError,
  BadVersionError,
  CreateMode,
  ConnectionLossError,
  ephemeralKind,
  NoAuthError,
  NoChildrenForEphemeralsError,
  NodeExistsError,
  NoNodeError,
  NotEmptyError,
  OPEN_ACL_UNSAFE,
  Perms,
  READ_ACL_UNSAFE,
  SessionExpiredError,
} from '@conclave/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConclaveClient, MultiError } from '../src/index.js';
import { TestServer, text, waitFor } from './helpers.js';

let srv: TestServer;
let c: ConclaveClient;

beforeAll(async () => {
  srv = await TestServer.start();
  c = await srv.client();
});
afterAll(async () => {
  await srv?.stop();
});

/** Resolves with what the promise rejected with (fails the test if it resolved). */
async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

function digest(user: string, password: string): string {
  return `${user}:${createHash('sha1').update(`${user}:${password}`).digest('base64')}`;
}

describe('create', () => {
  it('creates with string or byte data and the open ACL by default', async () => {
    expect(await c.create('/create-s', 'héllo')).toBe('/create-s');
    expect(await c.create('/create-b', new Uint8Array([0, 1, 255]))).toBe('/create-b');
    expect(await c.create('/create-empty')).toBe('/create-empty');
    expect(text((await c.getData('/create-s')).data)).toBe('héllo');
    expect([...(await c.getData('/create-b')).data]).toEqual([0, 1, 255]);
    expect((await c.getData('/create-empty')).data.length).toBe(0);
    expect((await c.getACL('/create-s')).acl).toEqual(OPEN_ACL_UNSAFE);
  });

  it('appends the sequence suffix, accepting mode names and flags', async () => {
    await c.create('/seq');
    const a = await c.create('/seq/n-', '', { mode: 'PERSISTENT_SEQUENTIAL' });
    const b = await c.create('/seq/n-', '', { mode: CreateMode.PERSISTENT_SEQUENTIAL });
    expect(a).toMatch(/^\/seq\/n-\d{10}$/);
    expect(Number(b.slice(-10))).toBe(Number(a.slice(-10)) + 1);
    const { path, stat } = await c.createWithStat('/seq/', 'x', { mode: 'PERSISTENT_SEQUENTIAL' });
    expect(path).toMatch(/^\/seq\/\d{10}$/);
    expect(stat.dataLength).toBe(1);
  });

  it('owns ephemerals by the session, and refuses children under them', async () => {
    await c.create('/eph', '', { mode: 'EPHEMERAL' });
    const stat = await c.exists('/eph');
    expect(stat?.ephemeralOwner).toBe(c.sessionId);
    expect(await c.getEphemerals('/eph')).toEqual(['/eph']);
    const err = await rejection(c.create('/eph/child'));
    expect(err).toBeInstanceOf(NoChildrenForEphemeralsError);
  });

  it('creates containers and TTL nodes; ttlMs is checked client-side', async () => {
    await c.create('/container', '', { mode: 'CONTAINER' });
    expect(ephemeralKind((await c.exists('/container'))!.ephemeralOwner).kind).toBe('container');
    await c.create('/ttl', '', { mode: 'PERSISTENT_WITH_TTL', ttlMs: 60_000 });
    expect(ephemeralKind((await c.exists('/ttl'))!.ephemeralOwner)).toEqual({ kind: 'ttl', ttlMs: 60_000 });
    expect(await rejection(c.create('/ttl2', '', { mode: 'PERSISTENT_WITH_TTL' }))).toBeInstanceOf(
      BadArgumentsError,
    );
    expect(await rejection(c.create('/ttl2', '', { ttlMs: 5 }))).toBeInstanceOf(BadArgumentsError);
  });

  it('fails with NodeExistsError and NoNodeError carrying the path', async () => {
    await c.create('/dup');
    const exists = await rejection(c.create('/dup'));
    expect(exists).toBeInstanceOf(NodeExistsError);
    expect((exists as NodeExistsError).path).toBe('/dup');
    const missing = await rejection(c.create('/no/parent'));
    expect(missing).toBeInstanceOf(NoNodeError);
    expect((missing as NoNodeError).path).toBe('/no/parent');
  });

  it('rejects bad arguments with BadArgumentsError', async () => {
    for (const path of ['', 'x', '/a/', '/a//b', '/a/./b', '/a/../b', '/a\u0000b']) {
      expect(await rejection(c.create(path))).toBeInstanceOf(BadArgumentsError);
    }
    expect(await rejection(c.create('/m', '', { mode: 'BOGUS' as never }))).toBeInstanceOf(BadArgumentsError);
    expect(await rejection(c.create('/m', '', { mode: 42 as never }))).toBeInstanceOf(BadArgumentsError);
    expect(await rejection(c.create('/m', 42 as never))).toBeInstanceOf(BadArgumentsError);
    expect(await rejection(c.create('/m', '', { acl: [] }))).toBeInstanceOf(BadArgumentsError);
    expect(
      await rejection(c.create('/m', '', { acl: [{ perms: 99, id: { scheme: 'world', id: 'anyone' } }] })),
    ).toBeInstanceOf(BadArgumentsError);
  });
});

describe('limits', () => {
  it('accepts data of exactly 1 MiB and refuses one byte more before sending', async () => {
    const max = new Uint8Array(1024 * 1024).fill(7);
    await c.create('/big', max);
    expect((await c.getData('/big')).data.length).toBe(max.length);
    const over = new Uint8Array(1024 * 1024 + 1);
    const err = await rejection(c.setData('/big', over));
    expect(err).toBeInstanceOf(BadArgumentsError);
    expect(err.message).toContain('maxDataBytes');
  });

  it('refuses a request frame over maxFrameBytes before sending', async () => {
    const half = new Uint8Array(700 * 1024);
    const err = await rejection(
      c.multi([
        { op: 'create', path: '/f1', data: half },
        { op: 'create', path: '/f2', data: half },
      ]),
    );
    expect(err).toBeInstanceOf(BadArgumentsError);
    expect(err.message).toContain('maxFrameBytes');
    expect(await c.exists('/f1')).toBeNull();
  });

  it('checks arguments before the connection state: a SUSPENDED client still says BADARGUMENTS', async () => {
    const d = await srv.client('', { retry: { minTimeoutMs: 200, maxTimeoutMs: 400 } });
    d.dropConnection();
    expect(d.state).toBe('SUSPENDED');
    expect(await rejection(d.getData('bad'))).toBeInstanceOf(BadArgumentsError);
    expect(await rejection(d.create('/x', new Uint8Array(2 * 1024 * 1024)))).toBeInstanceOf(
      BadArgumentsError,
    );
    // ...and a well-formed call fails fast with CONNECTIONLOSS (never queued behind the reconnect).
    const loss = await rejection(d.getData('/'));
    expect(loss).toBeInstanceOf(ConnectionLossError);
    expect(loss.message).toContain('SUSPENDED');
    await waitFor(() => d.state === 'RECONNECTED', 'RECONNECTED');
    await d.close();
  });

  it('queues calls over maxOutstandingRequests in order and rejects over maxQueuedRequests', async () => {
    const d = await srv.client('', { maxOutstandingRequests: 2, maxQueuedRequests: 5 });
    await d.create('/q-order');
    const writes = Array.from({ length: 7 }, (_, i) => d.setData('/q-order', String(i)));
    const over = await rejection(d.getData('/q-order'));
    expect(over.name).toBe('ThrottledOpError');
    const stats = await Promise.all(writes);
    expect(stats.map((s) => s.version)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(text((await d.getData('/q-order')).data)).toBe('6');
    await d.close();
  });
});

describe('delete, setData, exists, getData, getChildren', () => {
  it('reads and writes with versions', async () => {
    await c.create('/v', 'a');
    const s1 = await c.setData('/v', 'b', { version: 0 });
    expect(s1.version).toBe(1);
    const { data, stat } = await c.getData('/v');
    expect(text(data)).toBe('b');
    expect(stat).toEqual(s1);
    expect(await rejection(c.setData('/v', 'c', { version: 0 }))).toBeInstanceOf(BadVersionError);
    expect(await rejection(c.delete('/v', { version: 0 }))).toBeInstanceOf(BadVersionError);
    expect(await rejection(c.setData('/v', 'c', { version: -2 }))).toBeInstanceOf(BadArgumentsError);
    await c.delete('/v', { version: 1 });
    expect(await c.exists('/v')).toBeNull();
  });

  it('fails on missing nodes with NoNodeError, and exists returns null', async () => {
    expect(await c.exists('/missing')).toBeNull();
    for (const p of [
      c.getData('/missing'),
      c.setData('/missing', 'x'),
      c.delete('/missing'),
      c.getChildren('/missing'),
      c.getACL('/missing'),
      c.setACL('/missing', OPEN_ACL_UNSAFE),
    ]) {
      expect(await rejection(p)).toBeInstanceOf(NoNodeError);
    }
  });

  it('lists children and refuses to delete a parent with NotEmptyError', async () => {
    await c.create('/p');
    await c.create('/p/b');
    await c.create('/p/a');
    const { children, stat } = await c.getChildren('/p');
    expect([...children].sort()).toEqual(['a', 'b']);
    expect(stat.numChildren).toBe(2);
    expect(await c.getAllChildrenNumber('/p')).toBe(2);
    expect(await rejection(c.delete('/p'))).toBeInstanceOf(NotEmptyError);
  });

  it('sync resolves', async () => {
    await c.sync('/');
    expect(await rejection(c.sync('nope'))).toBeInstanceOf(BadArgumentsError);
  });
});

describe('ACLs and auth', () => {
  it('enforces a digest ACL: NOAUTH until addAuth', async () => {
    const acl = [{ perms: Perms.ALL, id: { scheme: 'digest', id: digest('alice', 'secret') } }];
    await c.create('/secure', 'top', { acl });
    const other = await srv.client();
    expect(await rejection(other.getData('/secure'))).toBeInstanceOf(NoAuthError);
    expect(await rejection(other.setData('/secure', 'x'))).toBeInstanceOf(NoAuthError);
    await other.addAuth('digest', 'alice:secret');
    expect(text((await other.getData('/secure')).data)).toBe('top');
    expect(await other.whoAmI()).toContainEqual({ scheme: 'digest', id: digest('alice', 'secret') });
    await other.close();
  });

  it('a refused addAuth rejects with AuthFailedError; the server drops the connection and the client reconnects', async () => {
    const d = await srv.client('', { retry: { minTimeoutMs: 20, maxTimeoutMs: 50 } });
    const states: string[] = [];
    d.on('state', (s) => states.push(s));
    expect(await rejection(d.addAuth('no-such-scheme', 'x'))).toBeInstanceOf(AuthFailedError);
    await waitFor(() => d.state === 'RECONNECTED', 'RECONNECTED');
    expect(states).toEqual(['SUSPENDED', 'RECONNECTED']);
    expect(await d.exists('/')).not.toBeNull();
    await d.close();
    const err = await rejection(srv.client('', { auth: [{ scheme: 'no-such-scheme', auth: 'x' }] }));
    expect(err).toBeInstanceOf(AuthFailedError);
  });

  it('getACL/setACL with versions', async () => {
    await c.create('/acl');
    const stat = await c.setACL('/acl', READ_ACL_UNSAFE, { version: 0 });
    expect(stat.aversion).toBe(1);
    expect(await c.getACL('/acl')).toMatchObject({ acl: READ_ACL_UNSAFE, stat: { aversion: 1 } });
    expect(await rejection(c.setACL('/acl', OPEN_ACL_UNSAFE, { version: 0 }))).toBeInstanceOf(NoAuthError);
    expect(await rejection(c.setData('/acl', 'x'))).toBeInstanceOf(NoAuthError);
  });

  it('auth given at connect is applied before the first call', async () => {
    const acl = [{ perms: Perms.READ, id: { scheme: 'digest', id: digest('bob', 'pw') } }];
    await c.create('/bobs', 'b', { acl });
    const bob = await srv.client('', { auth: [{ scheme: 'digest', auth: 'bob:pw' }] });
    expect(text((await bob.getData('/bobs')).data)).toBe('b');
    await bob.close();
  });
});

describe('multi and transaction', () => {
  it('commits every op atomically and returns each result', async () => {
    await c.create('/t');
    const results = await c
      .transaction()
      .create('/t/a', 'x')
      .create('/t/s-', '', { mode: 'PERSISTENT_SEQUENTIAL' })
      .setData('/t', 'parent', { version: 0 })
      .check('/t/a', 0)
      .delete('/t/a')
      .commit();
    expect(results.map((r) => r.op)).toEqual(['create', 'create', 'setData', 'check', 'delete']);
    expect(results[0]).toMatchObject({ op: 'create', path: '/t/a' });
    expect((results[1] as { path: string }).path).toMatch(/^\/t\/s-\d{10}$/);
    expect(await c.exists('/t/a')).toBeNull();
    expect(text((await c.getData('/t')).data)).toBe('parent');
  });

  it('applies nothing when one op fails, and throws that op’s error with every result', async () => {
    await c.create('/u');
    const err = (await rejection(
      c.multi([
        { op: 'create', path: '/u/new' },
        { op: 'check', path: '/u', version: 7 },
        { op: 'setData', path: '/u', data: 'x' },
      ]),
    )) as MultiError;
    expect(err).toBeInstanceOf(BadVersionError);
    expect(err.path).toBe('/u');
    expect(err.results).toHaveLength(3);
    expect(await c.exists('/u/new')).toBeNull();
  });

  it('validates ops before sending and commits a transaction once', async () => {
    expect(await rejection(c.multi([{ op: 'create', path: 'rel' }]))).toBeInstanceOf(BadArgumentsError);
    expect(await rejection(c.multi([{ op: 'nope', path: '/' } as never]))).toBeInstanceOf(BadArgumentsError);
    const tx = c.transaction().create('/once');
    await tx.commit();
    expect(await rejection(tx.commit())).toBeInstanceOf(BadArgumentsError);
  });
});

describe('signals', () => {
  it('rejects at once with the reason of an already aborted signal', async () => {
    const reason = new Error('stop');
    expect(await rejection(c.getData('/', { signal: AbortSignal.abort(reason) }))).toBe(reason);
  });

  it('rejects an in-flight call on abort, ignores its late response, and keeps working', async () => {
    await c.create('/abort');
    const ac = new AbortController();
    const p = c.setData('/abort', 'late', { signal: ac.signal });
    ac.abort(new Error('changed my mind'));
    expect((await rejection(p)).message).toBe('changed my mind');
    // The write was sent before the abort, so it lands; the client simply ignored its answer.
    await waitFor(async () => text((await c.getData('/abort')).data) === 'late', 'the write to land');
    expect(await c.setData('/abort', 'next')).toMatchObject({ version: 2 });
  });
});

describe('closed client', () => {
  it('fails every call with SessionExpiredError, and close is idempotent', async () => {
    const d = await srv.client();
    await d.create('/closed-eph', '', { mode: 'EPHEMERAL' });
    const states: string[] = [];
    d.on('state', (s) => states.push(s));
    await Promise.all([d.close(), d.close()]);
    expect(d.state).toBe('CLOSED');
    expect(states).toEqual(['CLOSED']);
    for (const p of [
      d.getData('/'),
      d.create('/x'),
      d.exists('/'),
      d.multi([]),
      d.addAuth('digest', 'a:b'),
    ]) {
      const err = await rejection(p);
      expect(err).toBeInstanceOf(SessionExpiredError);
      expect(err.message).toContain('closed');
    }
    // close() ended the session at once: its ephemeral is gone without waiting for a timeout.
    expect(await c.exists('/closed-eph')).toBeNull();
  });
});
