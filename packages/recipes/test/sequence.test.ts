import { BadArgumentsError } from '@conclave/core';
import { describe, expect, it } from 'vitest';
import { deadlineSignal } from '../src/internal/abort.js';
import { decodeParticipant, encodeParticipant } from '../src/internal/participant.js';
import { exclusivePredecessor, sharedPredecessor } from '../src/internal/predecessor.js';
import { parseQueueNode, sortQueue } from '../src/internal/sequence.js';

const guid = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const node = (n: number, kind: string, seq: number) =>
  `_c_${guid(n)}-${kind}-${String(seq).padStart(10, '0')}`;

describe('queue ordering', () => {
  it('parses the kind and the 10-digit sequence of a protected name', () => {
    expect(parseQueueNode(node(1, 'write', 42))).toEqual({
      name: node(1, 'write', 42),
      sequence: 42,
      kind: 'write',
    });
    expect(parseQueueNode('lock-0000000007')).toMatchObject({ sequence: 7, kind: 'lock' });
    expect(parseQueueNode('-000000012'.padStart(14, 'x'))).toMatchObject({ sequence: -12 });
    expect(parseQueueNode('not-sequential')).toBeUndefined();
    expect(parseQueueNode('123')).toBeUndefined();
  });

  it('sorts by sequence, never by the GUID prefix', () => {
    const names = [node(9, 'lock', 3), node(1, 'lock', 10), 'junk', node(5, 'lock', 1)];
    expect(sortQueue(names).map((n) => n.sequence)).toEqual([1, 3, 10]);
  });

  it('exclusive: waits for the nearest lower node of any kind', () => {
    const q = sortQueue([node(1, 'read', 1), node(2, 'write', 2), node(3, 'read', 3), node(4, 'write', 4)]);
    expect(exclusivePredecessor(q, 0)).toBeUndefined();
    expect(exclusivePredecessor(q, 3)?.sequence).toBe(3);
  });

  it('shared: a reader waits only for the nearest lower WRITE node', () => {
    const q = sortQueue([
      node(1, 'read', 1),
      node(2, 'read', 2),
      node(3, 'write', 3),
      node(4, 'read', 4),
      node(5, 'read', 5),
    ]);
    expect(sharedPredecessor(q, 1)).toBeUndefined(); // readers share
    expect(sharedPredecessor(q, 4)?.sequence).toBe(3); // a queued writer blocks later readers
  });
});

describe('deadlineSignal', () => {
  it('aborts with the timeout error, or with the caller reason', async () => {
    const d = deadlineSignal(undefined, 5, () => new Error('late'));
    const ds = d.signal as AbortSignal;
    await new Promise((r) => ds.addEventListener('abort', r));
    expect((ds.reason as Error).message).toBe('late');
    d.dispose();
    const c = new AbortController();
    const e = deadlineSignal(c.signal, 60_000, () => new Error('late'));
    const mine = new Error('mine');
    c.abort(mine);
    expect(e.signal?.reason).toBe(mine);
    e.dispose();
    expect(() => deadlineSignal(undefined, -1, () => new Error())).toThrow(BadArgumentsError);
    expect(() => deadlineSignal(AbortSignal.abort(), Number.NaN, () => new Error())).toThrow(
      BadArgumentsError,
    );
    // Without a timeout there is nothing to add: the caller's own signal (or none) is used as-is.
    expect(deadlineSignal(c.signal, undefined, () => new Error()).signal).toBe(c.signal);
    expect(deadlineSignal(undefined, undefined, () => new Error()).signal).toBeUndefined();
  });
});

describe('participant data', () => {
  it('round-trips id and payload, and tolerates foreign data', () => {
    const p = decodeParticipant('n', encodeParticipant('a', { url: 'x' }));
    expect(p).toEqual({ id: 'a', payload: { url: 'x' }, node: 'n' });
    expect(decodeParticipant('n', new TextEncoder().encode('raw'))).toEqual({
      id: 'raw',
      payload: null,
      node: 'n',
    });
  });
});
