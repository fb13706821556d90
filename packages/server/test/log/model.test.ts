import { type TxnEntry, makeZxid, zxidEpoch } from '@conclave/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Storage } from '../../src/log/index.js';
import { entry, listChunks, listCodec, withTempDir } from './helpers.js';

/**
 * Random sequences of appends (same or new epoch), snapshots, snapshot jumps (SNAP sync),
 * truncates, DIFF reads and restarts, checked against a model: what recovery must return is the
 * list of zxids the state went through.
 */
type Op =
  | { kind: 'append'; count: number; newEpoch: boolean }
  | { kind: 'snapshot' }
  | { kind: 'jump'; by: number }
  | { kind: 'truncate'; back: number }
  | { kind: 'readFrom'; back: number }
  | { kind: 'reopen' };

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('append' as const),
      count: fc.integer({ min: 1, max: 60 }),
      newEpoch: fc.boolean(),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('snapshot' as const) }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('jump' as const), by: fc.integer({ min: 1, max: 50 }) }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('truncate' as const), back: fc.integer({ min: 0, max: 80 }) }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('readFrom' as const), back: fc.integer({ min: 0, max: 120 }) }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('reopen' as const) }) },
);

const KEEP = 2;
const SEGMENT = 4096;

async function collect(it: AsyncIterable<TxnEntry>): Promise<bigint[]> {
  const out: bigint[] = [];
  for await (const e of it) out.push(e.zxid);
  return out;
}

describe('Storage against a model', () => {
  it('recovers exactly the modelled history after any sequence of operations', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 25 }), async (ops) => {
        await withTempDir(async (dir) => {
          const open = () =>
            Storage.open({ dir, fsync: false, segmentBytes: SEGMENT, snapshotsToKeep: KEEP });
          let storage = await open();
          let state: bigint[] = []; // the zxids the recovered state must hold, in order
          let snapshots: bigint[] = []; // snapshot zxids on disk, newest first
          const images = new Map<bigint, bigint[]>(); // the state each snapshot holds
          let logged: bigint[] = []; // zxids in the log
          const last = () => state[state.length - 1] ?? 0n;
          const snapshotAt = async (zxid: bigint, image: bigint[]) => {
            await storage.snapshot(zxid, listChunks(image));
            images.set(zxid, image);
            snapshots = [zxid, ...snapshots.filter((s) => s !== zxid)]
              .sort((a, b) => (a > b ? -1 : 1))
              .slice(0, KEEP);
          };
          try {
            for (const o of ops) {
              if (o.kind === 'append') {
                const first = o.newEpoch || last() === 0n ? makeZxid(zxidEpoch(last()) + 1, 1) : last() + 1n;
                const zxids = Array.from({ length: o.count }, (_, i) => first + BigInt(i));
                await Promise.all(zxids.map((zx) => storage.append(entry(zx))));
                state.push(...zxids);
                logged.push(...zxids);
              } else if (o.kind === 'snapshot') {
                if (state.length > 0) await snapshotAt(last(), [...state]);
              } else if (o.kind === 'jump') {
                if (state.length === 0) continue;
                // SNAP sync: the state jumps ahead by txns this log never saw.
                const extra = Array.from({ length: o.by }, (_, i) => last() + 1n + BigInt(i));
                state = [...state, ...extra];
                await snapshotAt(last(), [...state]);
                expect(storage.lastZxid).toBe(last());
              } else if (o.kind === 'truncate') {
                const target = state[Math.max(0, state.length - 1 - o.back)] ?? 0n;
                if (snapshots.length > 0 && !snapshots.some((s) => s <= target)) {
                  await expect(storage.truncate(target)).rejects.toThrow(/SNAP/);
                  continue;
                }
                // Refused when part of the history up to the target is only in a snapshot beyond
                // it (a SNAP jump): truncating would leave a shorter history than asked for.
                const floor = snapshots.find((s) => s <= target) ?? 0n;
                const inLog = new Set(logged);
                if (state.some((zx) => zx > floor && zx <= target && !inLog.has(zx))) {
                  await expect(storage.truncate(target)).rejects.toThrow(/SNAP/);
                  continue;
                }
                await storage.truncate(target);
                // What survives: the newest snapshot at or below the target plus the log after it
                // (txns that only a deleted snapshot held are gone with it).
                snapshots = snapshots.filter((s) => s <= target);
                logged = logged.filter((zx) => zx <= target);
                const base = snapshots[0];
                state = [
                  ...(base === undefined ? [] : images.get(base)!),
                  ...logged.filter((zx) => base === undefined || zx > base),
                ];
                expect(storage.lastZxid).toBe(last());
              } else if (o.kind === 'readFrom') {
                const from = state[Math.max(0, state.length - 1 - o.back)] ?? 0n;
                const read = await collect(storage.readFrom(from)).catch((err: Error) => {
                  expect(err.message).toMatch(/SNAP/);
                  return undefined;
                });
                if (read) expect(read).toEqual(state.filter((zx) => zx > from));
              } else {
                await storage.close();
                storage = await open();
                const recovered = await storage.recover(listCodec);
                expect(recovered.state.zxids).toEqual(state);
                expect(recovered.lastZxid).toBe(last());
                expect(storage.lastZxid).toBe(last());
              }
            }
            await storage.close();
            storage = await open();
            const recovered = await storage.recover(listCodec);
            expect(recovered.state.zxids).toEqual(state);
            expect(recovered.lastZxid).toBe(last());
          } finally {
            await storage.close();
          }
        });
      }),
      { numRuns: Number(process.env.CONCLAVE_LOG_MODEL_RUNS ?? 200) },
    );
  }, 120_000);
});
