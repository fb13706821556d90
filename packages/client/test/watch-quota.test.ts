import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QuotaExceededError, type WatchedEvent } from '@conclave/core';
import { type Server, startServer } from '@conclave/server';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type ConclaveClient, connect } from '../src/index.js';
import { target, waitFor } from './helpers.js';

/**
 * Re-registering watches after a reconnect (setWatches) against the server's per-session watch
 * quota (maxWatchesPerSession). The session lives on the server, so a refused setWatches must not
 * make the client call itself EXPIRED: it keeps what fits, drops the rest (each dropped listener
 * hears a *WatchRemoved event) and says so with an 'error' event.
 * Standalone only: startEnsemble has no maxWatchesPerSession option.
 */

let dataDir: string;
let server: Server | undefined;
let client: ConclaveClient | undefined;

beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'conclave-watch-quota-'));
});
afterEach(async () => {
  await client?.close();
  await server?.close();
  client = server = undefined;
  await rm(dataDir, { recursive: true, force: true });
});

const NAMES = ['a', 'b', 'c'] as const;
type Heard = Record<(typeof NAMES)[number], WatchedEvent[]>;

/** A client with a one-shot data watch on each of /q/a, /q/b, /q/c; what each listener heard. */
async function clientWithThreeWatches(): Promise<{ c: ConclaveClient; heard: Heard }> {
  const c = await connect(server!.connectString, { sessionTimeoutMs: 20_000 });
  client = c;
  await c.create('/q');
  const heard: Heard = { a: [], b: [], c: [] };
  for (const name of NAMES) {
    await c.create(`/q/${name}`);
    await c.getData(`/q/${name}`, { watch: (e) => heard[name].push(e) });
  }
  return { c, heard };
}

describe.skipIf(target === 'ensemble')('setWatches over the watch quota while reconnecting', () => {
  it('keeps every watch when the quota holds them all, even if the server counts them twice', async () => {
    server = await startServer({ dataDir, fsync: false, maxWatchesPerSession: 4 });
    const { c, heard } = await clientWithThreeWatches();
    const errors: unknown[] = [];
    c.on('error', (err) => errors.push(err));
    // The server keeps the session's 3 watches; re-sending all 3 at once asks for 6 > 4.
    c.dropConnection();
    await waitFor(() => c.state === 'RECONNECTED' || c.state === 'EXPIRED', 'the reconnect', 20_000);
    expect(c.state).toBe('RECONNECTED');
    expect(errors).toEqual([]);
    for (const name of NAMES) await c.setData(`/q/${name}`, 'x');
    await waitFor(() => Object.values(heard).every((l) => l.length === 1), 'every watch to fire', 20_000);
    for (const name of NAMES) expect(heard[name][0]?.type).toBe('NodeDataChanged');
  });

  it('drops only the watches that do not fit, tells their listeners, and stays RECONNECTED', async () => {
    server = await startServer({ dataDir, fsync: false, maxWatchesPerSession: 10 });
    const port = server.port;
    const { c, heard } = await clientWithThreeWatches();
    const sessionId = c.sessionId;
    const errors: unknown[] = [];
    c.on('error', (err) => errors.push(err));
    await server.close();
    // The session survives the restart; the restarted server allows 2 watches per session.
    server = await startServer({ dataDir, fsync: false, port, maxWatchesPerSession: 2 });
    await waitFor(() => c.state === 'RECONNECTED' || c.state === 'EXPIRED', 'the reconnect', 20_000);
    expect(c.state).toBe('RECONNECTED');
    expect(c.sessionId).toBe(sessionId);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(QuotaExceededError);
    expect((errors[0] as Error).message).toContain('/q/c');
    expect(heard.c).toEqual([{ type: 'DataWatchRemoved', path: '/q/c', zxid: 0n }]);
    // The two that fit still fire.
    for (const name of NAMES) await c.setData(`/q/${name}`, 'x');
    await waitFor(() => heard.a.length === 1 && heard.b.length === 1, 'the kept watches to fire', 20_000);
    expect(heard.a[0]?.type).toBe('NodeDataChanged');
    expect(heard.b[0]?.type).toBe('NodeDataChanged');
    expect(heard.c).toHaveLength(1);
  });
});
