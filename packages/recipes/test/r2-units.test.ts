import { Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { diffNode } from '../src/internal/cache-events.js';
import { findProtected, newGuid, protectedPrefix, unprotected } from '../src/internal/names.js';
import { isItem, itemFields } from '../src/internal/queue-core.js';
import { bySequence, sequenceOf } from '../src/internal/sequence.js';
import { Waiter } from '../src/internal/waiter.js';
import type { ConnectionState, RecipeClient } from '../src/recipe-client.js';

describe('sequence names', () => {
  it('parses the 10-character suffix, including after overflow', () => {
    expect(sequenceOf('qn-abc-0000000042')).toBe(42);
    expect(sequenceOf('qn-0000000007-abc-0000000003')).toBe(3);
    expect(sequenceOf('x--000000001')).toBe(-1);
    expect(Number.isNaN(sequenceOf('short'))).toBe(true);
    expect(['a-0000000010', 'b-0000000002', 'c-0000000007'].sort(bySequence)).toEqual([
      'b-0000000002',
      'c-0000000007',
      'a-0000000010',
    ]);
  });

  it('finds a protected node by its GUID, in one layout for every kind of node', () => {
    const guid = newGuid();
    const other = newGuid();
    expect(guid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    const prefix = protectedPrefix(guid, 'qn-0000000007');
    expect(prefix).toBe(`_c_${guid}-qn-0000000007-`);
    const ours = `${prefix}0000000002`;
    expect(findProtected([`_c_${other}-qn-0000000007-0000000001`, ours], prefix)).toBe(ours);
    expect(findProtected([`_c_${other}-qn-0000000007-0000000001`], prefix)).toBeUndefined();
    expect(unprotected(ours)).toBe('qn-0000000007-0000000002');
    expect(unprotected('tk-whatever')).toBe('tk-whatever');
    expect(isItem(ours)).toBe(true);
    expect(isItem(`tk-${other}-${ours}`)).toBe(false); // a take receipt names an item but is none
    expect(itemFields(ours)).toBe('0000000007-0000000002');
  });
});

describe('diffNode', () => {
  const stat = (czxid: bigint, mzxid: bigint) => ({
    czxid,
    mzxid,
    pzxid: czxid,
    ctime: 0,
    mtime: 0,
    version: 0,
    cversion: 0,
    aversion: 0,
    ephemeralOwner: 0n,
    dataLength: 0,
    numChildren: 0,
  });
  const node = (c: bigint, m: bigint) => ({ data: new Uint8Array(), stat: stat(c, m) });
  it('classifies changes and ignores stale or unchanged reads', () => {
    expect(diffNode('/a', undefined, undefined)).toBeNull();
    expect(diffNode('/a', undefined, node(1n, 1n))?.type).toBe('added');
    expect(diffNode('/a', node(1n, 1n), undefined)?.type).toBe('removed');
    expect(diffNode('/a', node(1n, 1n), node(1n, 2n))?.type).toBe('updated');
    expect(diffNode('/a', node(1n, 2n), node(1n, 2n))).toBeNull();
    expect(diffNode('/a', node(1n, 3n), node(1n, 2n))).toBeNull(); // older than shown
    expect(diffNode('/a', node(1n, 3n), node(5n, 5n))?.type).toBe('updated'); // re-created
  });
});

describe('Waiter', () => {
  function fakeStates() {
    const state$ = new Subject<ConnectionState>();
    return { client: { state$, state: 'CONNECTED' } as unknown as RecipeClient, state$ };
  }

  it('keeps a wake that came before wait(), times out, and fails on session loss', async () => {
    const { client, state$ } = fakeStates();
    const w = new Waiter(client, { timeoutMs: 50, what: 'testing' });
    w.wake();
    expect(await w.wait()).toBe(true);
    expect(await w.wait()).toBe(false); // nothing woke it: deadline
    w.dispose();

    const w2 = new Waiter(client, { what: 'testing' });
    const p = w2.wait();
    state$.next('RECONNECTED');
    expect(await p).toBe(true); // a reconnect means: check again
    const p2 = w2.wait();
    state$.next('SUSPENDED');
    state$.next('LOST'); // a presumption: a wait that holds nothing goes on
    state$.next('RECONNECTED');
    expect(await p2).toBe(true);
    const p3 = w2.wait();
    state$.next('EXPIRED');
    await expect(p3).rejects.toMatchObject({ code: 'SESSIONEXPIRED' });
    expect(() => w2.check()).toThrow(/expired/);
    w2.dispose();

    // One whose caller holds an ephemeral (a double-barrier entry) must take LOST as the end.
    const w3 = new Waiter(client, { what: 'testing', endOnLost: true });
    const p4 = w3.wait();
    state$.next('LOST');
    await expect(p4).rejects.toMatchObject({ code: 'SESSIONEXPIRED', state: 'LOST' });
    w3.dispose();
  });

  it('rejects with the abort reason', async () => {
    const { client } = fakeStates();
    const ac = new AbortController();
    const w = new Waiter(client, { signal: ac.signal, what: 'testing' });
    const p = w.wait();
    const reason = new Error('enough');
    ac.abort(reason);
    await expect(p).rejects.toBe(reason);
    expect(() => w.check()).toThrow(reason);
    w.dispose();
    const w2 = new Waiter(client, { signal: AbortSignal.abort(42), what: 'testing' });
    await expect(w2.wait()).rejects.toBe(42);
    w2.dispose();
  });

  it('a capped wait returns true when the cap passes first', async () => {
    const { client } = fakeStates();
    const w = new Waiter(client, { timeoutMs: 10_000, what: 'testing' });
    expect(await w.wait(20)).toBe(true);
    w.dispose();
  });
});
