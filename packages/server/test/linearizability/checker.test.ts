import { describe, expect, it } from 'vitest';
import {
  checkLinearizable,
  type HistoryOperation,
  type LinearizabilityModel,
  ZNODE_BADVERSION,
  ZNODE_NODEEXISTS,
  ZNODE_NONODE,
  ZNODE_OK,
  type ZnodeOp,
  type ZnodeOperation,
  type ZnodeResult,
  znodeModel,
} from '../../src/testing/linearizability/index.js';

let nextId = 0;
function op(
  clientId: number,
  input: ZnodeOp,
  output: ZnodeResult | undefined,
  call: number,
  ret: number,
): ZnodeOperation {
  return { id: nextId++, clientId, input, output, call, ret };
}
const ok = { err: ZNODE_OK };
const got = (data: string, version: number): ZnodeResult => ({ err: ZNODE_OK, data, version });
const setOk = (version: number): ZnodeResult => ({ err: ZNODE_OK, version });

describe('linearizability checker (znode model)', () => {
  it('accepts a sequential history', () => {
    const h = [
      op(1, { op: 'create', path: '/a', data: 'x' }, ok, 0, 1),
      op(1, { op: 'set', path: '/a', data: 'y', version: -1 }, setOk(1), 2, 3),
      op(2, { op: 'get', path: '/a' }, got('y', 1), 4, 5),
    ];
    expect(checkLinearizable(znodeModel, h).verdict).toBe('ok');
  });

  it('accepts a read concurrent with a write that sees either value', () => {
    const base = [
      op(1, { op: 'create', path: '/a', data: 'x' }, ok, 0, 1),
      op(1, { op: 'set', path: '/a', data: 'y', version: -1 }, setOk(1), 2, 10),
    ];
    expect(
      checkLinearizable(znodeModel, [...base, op(2, { op: 'get', path: '/a' }, got('x', 0), 3, 4)]).verdict,
    ).toBe('ok');
    expect(
      checkLinearizable(znodeModel, [...base, op(2, { op: 'get', path: '/a' }, got('y', 1), 3, 4)]).verdict,
    ).toBe('ok');
  });

  it('rejects the classic stale read: a read after a completed write returns the old value', () => {
    const h = [
      op(1, { op: 'create', path: '/a', data: 'x' }, ok, 0, 1),
      op(1, { op: 'set', path: '/a', data: 'y', version: -1 }, setOk(1), 2, 3),
      op(2, { op: 'get', path: '/a' }, got('x', 0), 4, 5),
    ];
    const r = checkLinearizable(znodeModel, h);
    expect(r.verdict).toBe('violation');
    expect(r.explanation).toContain('get(/a)');
    expect(r.blockingOp).toBe(h[2]!.id);
  });

  it('rejects two reads that see the value go back in time', () => {
    // Write concurrent with both reads, but read 1 (which finished first) saw the new value and
    // read 2 (which started after read 1 finished) saw the old one.
    const h = [
      op(1, { op: 'create', path: '/a', data: 'x' }, ok, 0, 1),
      op(1, { op: 'set', path: '/a', data: 'y', version: -1 }, setOk(1), 2, 20),
      op(2, { op: 'get', path: '/a' }, got('y', 1), 3, 4),
      op(3, { op: 'get', path: '/a' }, got('x', 0), 5, 6),
    ];
    expect(checkLinearizable(znodeModel, h).verdict).toBe('violation');
  });

  it('rejects two successful creates of the same node', () => {
    const h = [
      op(1, { op: 'create', path: '/lock', data: '1' }, ok, 0, 5),
      op(2, { op: 'create', path: '/lock', data: '2' }, ok, 1, 6),
    ];
    expect(checkLinearizable(znodeModel, h).verdict).toBe('violation');
  });

  it('accepts a lost create race', () => {
    const h = [
      op(1, { op: 'create', path: '/lock', data: '1' }, ok, 0, 5),
      op(2, { op: 'create', path: '/lock', data: '2' }, { err: ZNODE_NODEEXISTS }, 1, 6),
      op(3, { op: 'get', path: '/lock' }, got('1', 0), 7, 8),
    ];
    expect(checkLinearizable(znodeModel, h).verdict).toBe('ok');
  });

  it('handles cas: two successful cas from the same expected value is a violation', () => {
    const h = [
      op(1, { op: 'create', path: '/c', data: '0' }, ok, 0, 1),
      op(1, { op: 'cas', path: '/c', expect: '0', data: '1' }, setOk(1), 2, 10),
      op(2, { op: 'cas', path: '/c', expect: '0', data: '2' }, setOk(1), 3, 11),
    ];
    expect(checkLinearizable(znodeModel, h).verdict).toBe('violation');
    const fixed = [
      ...h.slice(0, 2),
      op(2, { op: 'cas', path: '/c', expect: '0', data: '2' }, { err: ZNODE_BADVERSION }, 3, 11),
    ];
    expect(checkLinearizable(znodeModel, fixed).verdict).toBe('ok');
  });

  it('treats an unknown outcome as possibly applied, at any later point, or never', () => {
    const create = op(1, { op: 'create', path: '/a', data: 'x' }, ok, 0, 1);
    const lost = op(1, { op: 'set', path: '/a', data: 'y', version: -1 }, undefined, 2, Infinity);
    const sawNew = op(2, { op: 'get', path: '/a' }, got('y', 1), 50, 51);
    const sawOld = op(3, { op: 'get', path: '/a' }, got('x', 0), 40, 41);
    expect(checkLinearizable(znodeModel, [create, lost, sawOld, sawNew]).verdict).toBe('ok');
    const sawOldAfterNew = op(3, { op: 'get', path: '/a' }, got('x', 0), 60, 61);
    expect(checkLinearizable(znodeModel, [create, lost, sawNew, sawOldAfterNew]).verdict).toBe('violation');
  });

  it('checks multi atomically across paths (one partition)', () => {
    const h = [
      op(1, { op: 'create', path: '/a', data: 'a' }, ok, 0, 1),
      op(1, { op: 'create', path: '/b', data: 'b' }, ok, 0, 1),
      op(
        1,
        {
          op: 'multi',
          ops: [
            { op: 'set', path: '/a', data: 'a2', version: 0 },
            { op: 'set', path: '/b', data: 'b2', version: 0 },
          ],
        },
        ok,
        2,
        10,
      ),
      // A reader sees /a new but then /b old, after /a new: impossible with an atomic multi.
      op(2, { op: 'get', path: '/a' }, got('a2', 1), 3, 4),
      op(2, { op: 'get', path: '/b' }, got('b', 0), 5, 6),
    ];
    const r = checkLinearizable(znodeModel, h);
    expect(r.verdict).toBe('violation');
    expect(r.parts).toBe(1);
  });

  it('partitions independent keys', () => {
    const h = [
      op(1, { op: 'create', path: '/a', data: 'a' }, ok, 0, 1),
      op(2, { op: 'create', path: '/b', data: 'b' }, ok, 0, 1),
      op(2, { op: 'get', path: '/zz' }, { err: ZNODE_NONODE }, 0, 1),
    ];
    const r = checkLinearizable(znodeModel, h);
    expect(r).toMatchObject({ verdict: 'ok', parts: 3 });
  });

  it('reports unknown instead of running past its budget', () => {
    // Many concurrent writes with unknown outcomes and a read no order can explain: the search
    // must explore a huge space; a tiny budget makes it give up.
    const h: ZnodeOperation[] = [op(0, { op: 'create', path: '/r', data: '0' }, ok, 0, 1)];
    for (let i = 0; i < 40; i++)
      h.push(op(i + 1, { op: 'set', path: '/r', data: `v${i}`, version: -1 }, undefined, 2, Infinity));
    h.push(op(99, { op: 'get', path: '/r' }, got('nope', 3), 5, 6));
    const r = checkLinearizable(znodeModel, h, { maxSteps: 2_000 });
    expect(r.verdict).toBe('unknown');
  });

  it('works with a custom model (a counter)', () => {
    const counter: LinearizabilityModel<number, 'inc' | 'read', number> = {
      init: () => 0,
      apply: (s, i) => (i === 'inc' ? { state: s + 1, output: s + 1 } : { state: s, output: s }),
      equal: (a, b) => a === b,
      hash: (s) => String(s),
    };
    const h: HistoryOperation<'inc' | 'read', number>[] = [
      { id: 1, clientId: 1, input: 'inc', output: 1, call: 0, ret: 10 },
      { id: 2, clientId: 2, input: 'inc', output: 2, call: 1, ret: 11 },
      { id: 3, clientId: 3, input: 'read', output: 2, call: 12, ret: 13 },
    ];
    expect(checkLinearizable(counter, h).verdict).toBe('ok');
    h[2]!.output = 1;
    expect(checkLinearizable(counter, h).verdict).toBe('violation');
  });
});
