import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TxnEntry, decodeFrame, encodeFrame, makeZxid, zxidEpoch } from '@conclave/core';
import type { RecoveryCodec } from '../../src/log/index.js';

/** A deterministic entry for `zxid` whose data depends on the zxid (so a mix-up is visible). */
export function entry(zxid: bigint, dataBytes = 32): TxnEntry {
  const data = new Uint8Array(dataBytes);
  for (let i = 0; i < dataBytes; i++) data[i] = Number((zxid + BigInt(i)) & 0xffn);
  return {
    zxid,
    sessionId: 0x100n,
    cxid: 1000 + Number(zxid % 1000n), // always a 2-byte CBOR int, so test records have one size
    time: 1_700_000_000_000,
    txn: { type: 'setData', path: `/n${zxid}`, data, version: 1 },
  };
}

export const z = (counter: number, epoch = 1): bigint => makeZxid(epoch, counter);

/** The reference state for tests: every applied zxid, in order; snapshots are CBOR chunks of zxids. */
export interface ListState {
  zxids: bigint[];
}

export const listCodec: RecoveryCodec<ListState> = {
  empty: () => ({ zxids: [] }),
  async load(chunks) {
    const zxids: bigint[] = [];
    for await (const chunk of chunks) zxids.push(...(decodeFrame(chunk) as bigint[]));
    return { zxids };
  },
  apply(state, e) {
    const prev = state.zxids[state.zxids.length - 1];
    if (prev !== undefined && e.zxid <= prev) throw new Error(`apply out of order: ${e.zxid} after ${prev}`);
    const expected = entry(e.zxid, (e.txn as { data: Uint8Array }).data.length);
    if (Buffer.compare(Buffer.from(encodeFrame(expected)), Buffer.from(encodeFrame(e))) !== 0) {
      throw new Error(`entry ${e.zxid} does not round-trip`);
    }
    state.zxids.push(e.zxid);
  },
};

/** Snapshot chunks for `zxids` (several chunks, to check chunk boundaries survive). */
export function* listChunks(zxids: readonly bigint[], perChunk = 50): Iterable<Uint8Array> {
  for (let i = 0; i < zxids.length; i += perChunk) yield encodeFrame(zxids.slice(i, i + perChunk));
}

/** Checks zxids strictly increase and are contiguous within each epoch. */
export function assertContiguous(zxids: readonly bigint[]): void {
  for (let i = 1; i < zxids.length; i++) {
    const a = zxids[i - 1]!;
    const b = zxids[i]!;
    if (b <= a) throw new Error(`zxid ${b} after ${a}`);
    if (zxidEpoch(a) === zxidEpoch(b) && b !== a + 1n) throw new Error(`gap between ${a} and ${b}`);
  }
}

export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'conclave-log-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export function range(from: number, to: number, epoch = 1): bigint[] {
  const out: bigint[] = [];
  for (let c = from; c <= to; c++) out.push(z(c, epoch));
  return out;
}
