import { SessionExpiredError } from '@conclave/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConclaveClient, NodeData } from '../src/index.js';
import { TestServer, text, waitFor } from './helpers.js';

let srv: TestServer;
let c: ConclaveClient;
let w: ConclaveClient;

beforeAll(async () => {
  srv = await TestServer.start();
  c = await srv.client();
  w = await srv.client();
});
afterAll(async () => {
  await srv?.stop();
});

const show = (v: NodeData | null): string => (v === null ? 'null' : text(v.data));

describe('data$', () => {
  it('emits null while absent, then every value, across deletes and re-creates', async () => {
    const seen: string[] = [];
    const sub = c.data$('/n').subscribe((v) => seen.push(show(v)));
    await waitFor(() => seen.length === 1, 'the first value');
    await w.create('/n', 'a');
    await waitFor(() => seen.at(-1) === 'a', 'a');
    await w.setData('/n', 'b');
    await waitFor(() => seen.at(-1) === 'b', 'b');
    await w.delete('/n');
    await waitFor(() => seen.at(-1) === 'null', 'null');
    await w.create('/n', 'c');
    await waitFor(() => seen.at(-1) === 'c', 'c');
    sub.unsubscribe();
    expect(seen).toEqual(['null', 'a', 'b', 'null', 'c']);
    await w.setData('/n', 'after');
    await c.sync('/');
    expect(seen.at(-1)).toBe('c');
  });

  it('converges on the latest value under bursts, never going back, never repeating', async () => {
    await w.create('/burst', '0');
    const versions: number[] = [];
    let last = '';
    const sub = c.data$('/burst').subscribe((v) => {
      versions.push(v!.stat.version);
      last = show(v);
    });
    for (let i = 1; i <= 30; i++) await w.setData('/burst', String(i));
    await waitFor(() => last === '30', 'the last value');
    sub.unsubscribe();
    for (let i = 1; i < versions.length; i++) expect(versions[i]!).toBeGreaterThan(versions[i - 1]!);
  });

  it('re-reads after a reconnect and keeps following changes', async () => {
    const d = await srv.client('', { retry: { minTimeoutMs: 20, maxTimeoutMs: 50 } });
    await w.create('/rc', 'one');
    const seen: string[] = [];
    const sub = d.data$('/rc').subscribe((v) => seen.push(show(v)));
    await waitFor(() => seen.length === 1, 'the first value');
    d.dropConnection();
    await w.setData('/rc', 'two');
    await waitFor(() => d.state === 'RECONNECTED', 'RECONNECTED');
    await waitFor(() => seen.at(-1) === 'two', 'two');
    await w.setData('/rc', 'three');
    await waitFor(() => seen.at(-1) === 'three', 'three');
    expect(seen).toEqual(['one', 'two', 'three']);
    sub.unsubscribe();
    await d.close();
  });

  it('completes when the client closes', async () => {
    const d = await srv.client();
    let completed = false;
    const values: unknown[] = [];
    d.data$('/').subscribe({ next: (v) => values.push(v), complete: () => (completed = true) });
    await waitFor(() => values.length === 1, 'the root');
    await d.close();
    expect(completed).toBe(true);
  });

  it('errors with SessionExpiredError when subscribed on an expired client', async () => {
    const d = await srv.client();
    const other = await srv.client('', { session: { id: d.sessionId, password: d.sessionPassword } });
    await other.close();
    await waitFor(() => d.state === 'EXPIRED', 'EXPIRED');
    const err = await new Promise((resolve) => d.data$('/').subscribe({ error: resolve }));
    expect(err).toBeInstanceOf(SessionExpiredError);
  });
});

describe('children$', () => {
  it('emits sorted child lists, null while absent', async () => {
    const seen: string[] = [];
    const sub = c.children$('/kids').subscribe((v) => seen.push(v === null ? 'null' : `[${v.join(',')}]`));
    await waitFor(() => seen.length === 1, 'the first value');
    await w.create('/kids');
    await waitFor(() => seen.at(-1) === '[]', '[]');
    await w.create('/kids/b');
    await waitFor(() => seen.at(-1) === '[b]', '[b]');
    await w.create('/kids/a');
    await waitFor(() => seen.at(-1) === '[a,b]', '[a,b]');
    await w.setData('/kids', 'not a child change');
    await w.delete('/kids/b');
    await waitFor(() => seen.at(-1) === '[a]', '[a]');
    await w.delete('/kids/a');
    await w.delete('/kids');
    await waitFor(() => seen.at(-1) === 'null', 'null');
    sub.unsubscribe();
    // Intermediate states may be skipped under load, but never reordered or repeated.
    expect(seen[0]).toBe('null');
    for (let i = 1; i < seen.length; i++) expect(seen[i]).not.toBe(seen[i - 1]);
  });

  it('refuses an invalid path at once', () => {
    expect(() => c.children$('nope')).toThrow('BADARGUMENTS');
  });
});
