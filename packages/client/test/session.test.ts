import { createServer } from 'node:net';
import { ConnectionLossError, SessionExpiredError, type WatchedEvent } from '@conclave/core';
import { afterEach, describe, expect, it } from 'vitest';
import { type ConclaveClient, type ConnectionState, connect } from '../src/index.js';
import { TestServer, waitFor } from './helpers.js';

let srv: TestServer | undefined;
afterEach(async () => {
  await srv?.stop();
  srv = undefined;
});

function trackStates(client: ConclaveClient): ConnectionState[] {
  const states: ConnectionState[] = [];
  client.on('state', (s) => states.push(s));
  return states;
}

/** A port nothing listens on (bound, then released). */
async function deadPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('connect', () => {
  it('resolves CONNECTED with a negotiated timeout, and state$ replays the current state', async () => {
    srv = await TestServer.start({ tickMs: 100 });
    const c = await srv.client('', { sessionTimeoutMs: 60_000 });
    expect(c.state).toBe('CONNECTED');
    expect(c.sessionId).not.toBe(0n);
    expect(c.sessionTimeoutMs).toBe(2000); // clamped to 20 ticks
    const seen: ConnectionState[] = [];
    const sub = c.state$.subscribe((s) => seen.push(s));
    expect(seen).toEqual(['CONNECTED']);
    await c.close();
    expect(seen).toEqual(['CONNECTED', 'CLOSED']);
    expect(sub.closed).toBe(true); // completes after CLOSED
    const late: ConnectionState[] = [];
    c.state$.subscribe((s) => late.push(s));
    expect(late).toEqual(['CLOSED']);
  });

  it('fails over from a dead member to a live one', async () => {
    srv = await TestServer.start();
    const dead = await deadPort();
    for (let i = 0; i < 3; i++) {
      const c = await connect(`127.0.0.1:${dead},${srv.connectString}`, { retry: { minTimeoutMs: 10 } });
      expect(c.state).toBe('CONNECTED');
      await c.close();
    }
  });

  it('rejects with ConnectionLossError once the retries are spent, and with the reason when aborted', async () => {
    const dead = await deadPort();
    const started = performance.now();
    const err = await connect(`127.0.0.1:${dead}`, {
      retry: { retries: 2, minTimeoutMs: 10, maxTimeoutMs: 20 },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionLossError);
    expect((err as Error).message).toContain(`127.0.0.1:${dead}`);
    expect(performance.now() - started).toBeLessThan(5000);
    const reason = new Error('give up');
    const aborted = await connect(`127.0.0.1:${dead}`, {
      signal: AbortSignal.abort(reason),
    }).catch((e: unknown) => e);
    expect(aborted).toBe(reason);
  });

  it('resumes a session by id and password; a closed session cannot be resumed', async () => {
    srv = await TestServer.start();
    const a = await srv.client();
    await a.create('/mine', '', { mode: 'EPHEMERAL' });
    const b = await srv.client('', { session: { id: a.sessionId, password: a.sessionPassword } });
    expect(b.sessionId).toBe(a.sessionId);
    expect((await b.exists('/mine'))?.ephemeralOwner).toBe(a.sessionId);
    // The session moved to b: a's connection was closed by the server and a reconnects; stop it.
    await b.close();
    await a.close();
    const err = await connect(srv.connectString, {
      session: { id: a.sessionId, password: a.sessionPassword },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SessionExpiredError);
  });
});

describe('connection loss and reconnect', () => {
  it('goes SUSPENDED then RECONNECTED with the same session; outstanding calls fail with ConnectionLossError', async () => {
    srv = await TestServer.start();
    const c = await srv.client('', { retry: { minTimeoutMs: 20, maxTimeoutMs: 50 } });
    const states = trackStates(c);
    // A state listener that throws is reported, and breaks neither the state machine nor the socket.
    const errors: unknown[] = [];
    c.on('error', (e) => errors.push(e));
    c.on('state', () => {
      throw new Error('listener bug');
    });
    await c.create('/eph', '', { mode: 'EPHEMERAL' });
    const sessionId = c.sessionId;
    const pending = c.getData('/eph');
    c.dropConnection();
    await expect(pending).rejects.toBeInstanceOf(ConnectionLossError);
    await waitFor(() => c.state === 'RECONNECTED', 'RECONNECTED');
    expect(states).toEqual(['SUSPENDED', 'RECONNECTED']);
    expect(errors.map((e) => (e as Error).message)).toEqual(['listener bug', 'listener bug']);
    expect(c.sessionId).toBe(sessionId);
    expect((await c.exists('/eph'))?.ephemeralOwner).toBe(sessionId);
  });

  it('re-registers more watches than fit one setWatches batch', async () => {
    srv = await TestServer.start();
    const c = await srv.client('', { retry: { minTimeoutMs: 20, maxTimeoutMs: 50 } });
    const w = await srv.client();
    await w.create('/many');
    // 300 exist watches on 500-character paths: ~150 KiB of paths, more than one 128 KiB batch.
    const paths = Array.from(
      { length: 300 },
      (_, i) => `/many/${'x'.repeat(490)}${String(i).padStart(4, '0')}`,
    );
    const fired = new Set<string>();
    for (const p of paths) await c.exists(p, { watch: (e) => fired.add(e.path) });
    c.dropConnection();
    await waitFor(() => c.state === 'RECONNECTED', 'RECONNECTED');
    await w.create(paths[0]!);
    await w.create(paths[299]!);
    await waitFor(() => fired.size === 2, 'both watches');
    expect([...fired].sort()).toEqual([paths[0], paths[299]]);
  });

  it('keeps watches across a server restart and delivers the changes it missed', async () => {
    srv = await TestServer.start();
    // Long backoff: after the first failed attempt the client stays away for 2 s, a window in
    // which another client changes everything it watches. A long session timeout: restarting a
    // whole ensemble (stop, start, elect, sync) on busy CI cores has taken over 10 s, and a client
    // that goes LOST meanwhile is another test (below).
    const c = await srv.client('', {
      sessionTimeoutMs: 30_000,
      retry: { minTimeoutMs: 2000, maxTimeoutMs: 2000 },
    });
    const states = trackStates(c);
    const setup = await srv.client();
    await setup.create('/data', 'v0');
    await setup.create('/parent');
    await setup.create('/gone');
    await setup.close();
    await c.create('/eph', '', { mode: 'EPHEMERAL' });

    const events: WatchedEvent[] = [];
    const record = (e: WatchedEvent) => events.push(e);
    await c.getData('/data', { watch: record });
    await c.exists('/born', { watch: record });
    await c.getChildren('/parent', { watch: record });
    await c.exists('/gone', { watch: record });
    const persistent: WatchedEvent[] = [];
    await c.addWatch('/tree', 'PERSISTENT_RECURSIVE', (e) => persistent.push(e));

    await srv.restart();
    const w = await srv.client();
    await w.setData('/data', 'v1');
    await w.create('/born');
    await w.create('/parent/kid');
    await w.delete('/gone');
    expect(c.state).toBe('SUSPENDED'); // all four changes happened while c was away

    await waitFor(() => c.state === 'RECONNECTED', 'RECONNECTED', 15_000);
    await waitFor(() => events.length === 4, 'the four missed events');
    expect(events.map((e) => `${e.type} ${e.path}`).sort()).toEqual([
      'NodeChildrenChanged /parent',
      'NodeCreated /born',
      'NodeDataChanged /data',
      'NodeDeleted /gone',
    ]);
    expect(states).toEqual(['SUSPENDED', 'RECONNECTED']);
    // The session survived the restart: its ephemeral is still there, and the persistent watch works.
    expect((await c.exists('/eph'))?.ephemeralOwner).toBe(c.sessionId);
    await w.create('/tree');
    await waitFor(() => persistent.length === 1, 'the persistent watch after reconnect');
    expect(persistent[0]).toMatchObject({ type: 'NodeCreated', path: '/tree' });
  });
});

describe('session expiry', () => {
  it('goes LOST after a session timeout away, then EXPIRED; ephemerals are gone and calls fail', async () => {
    srv = await TestServer.start({ tickMs: 50 });
    const c = await srv.client('', {
      sessionTimeoutMs: 400,
      retry: { minTimeoutMs: 2500, maxTimeoutMs: 2500 },
    });
    expect(c.sessionTimeoutMs).toBe(400);
    const states = trackStates(c);
    await c.create('/eph', '', { mode: 'EPHEMERAL' });
    const dataWatch: WatchedEvent[] = [];
    await c.getData('/eph', { watch: (e) => dataWatch.push(e) });

    await srv.restart();
    const observer = await srv.client();
    const gone: WatchedEvent[] = [];
    if ((await observer.exists('/eph', { watch: (e) => gone.push(e) })) !== null) {
      // The restarted server gives the session a fresh timeout, then expires it: the ephemeral goes.
      await waitFor(() => gone.length === 1, 'the ephemeral to be deleted', 10_000);
      expect(gone[0]).toMatchObject({ type: 'NodeDeleted', path: '/eph' });
    }
    expect(await observer.exists('/eph')).toBeNull();

    await waitFor(() => c.state === 'EXPIRED', 'EXPIRED', 15_000);
    expect(states).toEqual(['SUSPENDED', 'LOST', 'EXPIRED']);
    expect(dataWatch).toEqual([]); // one-shot watches are dropped, not fired, on expiry
    await expect(c.getData('/')).rejects.toBeInstanceOf(SessionExpiredError);
    await expect(c.create('/x')).rejects.toBeInstanceOf(SessionExpiredError);
    await c.close();
    expect(c.state).toBe('CLOSED');
  });

  it('goes LOST while the server is down past the session timeout, and RECONNECTED if the server kept the session', async () => {
    srv = await TestServer.start({ tickMs: 50 });
    const c = await srv.client('', { sessionTimeoutMs: 400, retry: { minTimeoutMs: 50, maxTimeoutMs: 100 } });
    const states = trackStates(c);
    await c.create('/eph', '', { mode: 'EPHEMERAL' });
    // Sessions are in the log: a restarted server gives each a fresh timeout to come back in.
    await srv.restart(() => waitFor(() => c.state === 'LOST', 'LOST'));
    await waitFor(() => c.state === 'RECONNECTED', 'RECONNECTED');
    expect(states).toEqual(['SUSPENDED', 'LOST', 'RECONNECTED']);
    expect((await c.exists('/eph'))?.ephemeralOwner).toBe(c.sessionId);
  });

  it('learns EXPIRED when its session was moved away and closed', async () => {
    srv = await TestServer.start({ tickMs: 50 });
    const c = await srv.client('', { sessionTimeoutMs: 300 });
    const states = trackStates(c);
    // Resuming the session elsewhere closes c's connection (the session moved); closing it there
    // ends it on the server, so c's reconnect is told the session expired.
    const other = await srv.client('', { session: { id: c.sessionId, password: c.sessionPassword } });
    await other.close();
    await waitFor(() => c.state === 'EXPIRED', 'EXPIRED');
    expect(states.at(-1)).toBe('EXPIRED');
    await expect(c.exists('/')).rejects.toBeInstanceOf(SessionExpiredError);
  });
});
