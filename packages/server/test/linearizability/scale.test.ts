import { describe, expect, it } from 'vitest';
import {
  applyZnodeOp,
  checkLinearizable,
  type ZnodeOp,
  type ZnodeOperation,
  znodeModel,
} from '../../src/testing/linearizability/index.js';
import { SeededPrng } from '../../src/zab/index.js';

/**
 * A history shaped like the ensemble chaos test's on a fast machine: 3 clients issuing
 * 100k back-to-back sets and reads over 8 keys, with some writes whose outcome is unknown
 * (about half of them took effect). Each op takes effect at a random point of its interval, so
 * the history is linearizable by construction. The checker must decide it, not give up: an
 * 'unknown' verdict here is what failed CI once (the search cost grew with the part size).
 */
function chaosLikeHistory(seed: number, opsPerClient: number, unknownWrites: number): ZnodeOperation[] {
  const prng = new SeededPrng(seed);
  const keys = Array.from({ length: 8 }, (_, i) => `/k${i}`);
  const planned: Array<{ op: ZnodeOperation; at: number; applies: boolean }> = [];
  let id = 0;
  for (const k of keys) {
    planned.push({
      op: {
        id: id++,
        clientId: -1,
        input: { op: 'create', path: k, data: 'init' },
        output: undefined,
        call: -2,
        ret: -1,
      },
      at: -1.5,
      applies: true,
    });
  }
  const unknownChance = unknownWrites / (opsPerClient * 3 * 0.6);
  for (let client = 0; client < 3; client++) {
    let t = 0;
    for (let i = 0; i < opsPerClient; i++) {
      const path = keys[prng.nextInt(keys.length)]!;
      const isWrite = prng.chance(0.6);
      const input: ZnodeOp = isWrite
        ? { op: 'set', path, data: `c${client}-${i}`, version: -1 }
        : { op: 'get', path };
      const call = t;
      const ret = t + 1 + prng.nextInt(20);
      const at = call + prng.nextFloat() * (ret - call);
      const lost = isWrite && prng.chance(unknownChance);
      planned.push({
        op: {
          id: id++,
          clientId: client,
          input,
          output: undefined,
          call,
          ret: lost ? Number.POSITIVE_INFINITY : ret,
        },
        at,
        applies: !lost || prng.chance(0.5),
      });
      t = ret + prng.nextInt(3);
    }
  }
  const state = new Map<string, { data: string; version: number }>();
  for (const p of [...planned].sort((a, b) => a.at - b.at)) {
    if (!p.applies) continue;
    const output = applyZnodeOp(state, p.op.input);
    if (p.op.ret !== Number.POSITIVE_INFINITY) p.op.output = output;
  }
  return planned.map((p) => p.op);
}

describe('linearizability checker at chaos-test scale', () => {
  it('decides a 100k-op history with unknown writes within its default budget', () => {
    const history = chaosLikeHistory(266993, 34_000, 60);
    const r = checkLinearizable(znodeModel, history);
    expect(r.parts).toBe(8);
    expect(r.verdict).toBe('ok');
    // One read that saw a value nobody wrote turns it into a violation, found as fast.
    const last = history.at(-1)!;
    const tampered: ZnodeOperation = {
      id: history.length,
      clientId: 7,
      input: { op: 'get', path: '/k0' },
      output: { err: 0, data: 'never-written', version: 1 },
      call: last.call,
      ret: last.call + 1,
    };
    expect(checkLinearizable(znodeModel, [...history, tampered]).verdict).toBe('violation');
  });
});
