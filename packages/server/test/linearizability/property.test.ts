import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  applyZnodeOp,
  checkLinearizable,
  ZNODE_NODEEXISTS,
  ZNODE_NONODE,
  ZNODE_OK,
  type ZnodeResult,
  type ZnodeOp,
  type ZnodeOperation,
  znodeModel,
} from '../../src/testing/linearizability/index.js';

const pathArb = fc.constantFrom('/a', '/b');
const opArb: fc.Arbitrary<ZnodeOp> = fc.oneof(
  fc.record({ op: fc.constant('create' as const), path: pathArb, data: fc.constantFrom('x', 'y', 'z') }),
  fc.record({
    op: fc.constant('set' as const),
    path: pathArb,
    data: fc.constantFrom('x', 'y', 'z'),
    version: fc.integer({ min: -1, max: 2 }),
  }),
  fc.record({ op: fc.constant('delete' as const), path: pathArb, version: fc.constant(-1) }),
  fc.record({ op: fc.constant('get' as const), path: pathArb }),
);

/**
 * A history made from a real sequential execution: op i takes effect at time 10·i, and its
 * interval [call, ret] is stretched randomly around that point, so ops overlap. Any such history is
 * linearizable by construction (the execution order is a witness).
 */
function historyFrom(ops: ZnodeOp[], stretch: Array<[number, number]>): ZnodeOperation[] {
  const state = new Map<string, { data: string; version: number }>();
  return ops.map((input, i) => {
    const output = applyZnodeOp(state, input);
    const [before, after] = stretch[i] ?? [0, 0];
    return { id: i, clientId: i % 3, input, output, call: 10 * i - before, ret: 10 * i + after };
  });
}

describe('linearizability checker properties', () => {
  it('accepts every history that has a linearization by construction', () => {
    fc.assert(
      fc.property(
        fc.array(opArb, { minLength: 1, maxLength: 40 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 35 }), fc.integer({ min: 0, max: 35 })), {
          maxLength: 40,
        }),
        (ops, stretch) => {
          expect(checkLinearizable(znodeModel, historyFrom(ops, stretch)).verdict).toBe('ok');
        },
      ),
      { numRuns: 300 },
    );
  });

  it('rejects a history whose last read (after everything finished) contradicts the final state', () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 30 }), (ops) => {
        const h = historyFrom(ops, []);
        const state = new Map<string, { data: string; version: number }>();
        for (const o of ops) applyZnodeOp(state, o);
        const actual = state.get('/a');
        // A read strictly after all ops, claiming a value /a cannot have.
        h.push({
          id: h.length,
          clientId: 9,
          input: { op: 'get', path: '/a' },
          output: { err: 0, data: 'never-written', version: actual?.version ?? 0 },
          call: 10 * ops.length + 100,
          ret: 10 * ops.length + 101,
        });
        expect(checkLinearizable(znodeModel, h).verdict).toBe('violation');
      }),
      { numRuns: 200 },
    );
  });

  it('agrees with a brute-force search on small random histories, unknown outcomes included', () => {
    const outArb: fc.Arbitrary<ZnodeResult> = fc.oneof(
      fc.constant({ err: ZNODE_OK }),
      fc.constant({ err: ZNODE_NONODE }),
      fc.constant({ err: ZNODE_NODEEXISTS }),
      fc.record({ err: fc.constant(ZNODE_OK), version: fc.integer({ min: 0, max: 3 }) }),
      fc.record({
        err: fc.constant(ZNODE_OK),
        data: fc.constantFrom('x', 'y', 'z'),
        version: fc.integer({ min: 0, max: 3 }),
      }),
    );
    const recordArb = fc.record({
      input: opArb,
      output: fc.option(outArb, { nil: undefined }),
      call: fc.integer({ min: 0, max: 30 }),
      len: fc.integer({ min: 0, max: 30 }),
    });
    let violations = 0;
    fc.assert(
      fc.property(fc.array(recordArb, { minLength: 1, maxLength: 6 }), (records) => {
        const h: ZnodeOperation[] = records.map((r, id) => ({
          id,
          clientId: id,
          input: r.input,
          output: r.output,
          call: r.call,
          ret: r.output === undefined ? Number.POSITIVE_INFINITY : r.call + r.len,
        }));
        const expected = bruteForce(h);
        if (!expected) violations++;
        expect(checkLinearizable(znodeModel, h).verdict).toBe(expected ? 'ok' : 'violation');
      }),
      { numRuns: 2000 },
    );
    // The generator must exercise both verdicts, or the agreement says little.
    expect(violations).toBeGreaterThan(100);
  });
});

/**
 * Linearizable iff some order of the completed ops plus a subset of the unknown ones respects
 * real time (an op that returned before another was called comes first) and reproduces every
 * recorded output. Tries every order: only for a handful of ops.
 */
function bruteForce(h: ZnodeOperation[]): boolean {
  const place = (left: ZnodeOperation[], state: Map<string, { data: string; version: number }>): boolean => {
    if (left.every((o) => o.output === undefined)) return true;
    for (const o of left) {
      // o may go next only if no other remaining op returned before o was called.
      if (left.some((p) => p !== o && p.ret < o.call)) continue;
      const next = new Map(state);
      const out = applyZnodeOp(next, o.input);
      const matches =
        o.output === undefined ||
        (o.output.err === out.err && o.output.data === out.data && o.output.version === out.version);
      const rest = left.filter((p) => p !== o);
      if (matches && place(rest, out.err === ZNODE_OK ? next : state)) return true;
      // An unknown op may also never have happened.
      if (o.output === undefined && place(rest, state)) return true;
    }
    return false;
  };
  return place(h, new Map());
}
