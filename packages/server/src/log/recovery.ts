import { type TxnEntry, formatZxid, zxidEpoch } from '@conclave/core';
import { StorageCorruptionError } from './errors.js';
import type { StorageFs } from './file-system.js';
import { scanSegment, segmentPrevZxid } from './segment.js';
import type { SnapshotRef, SnapshotStore } from './snapshot-store.js';
import type { TxnLog } from './txn-log.js';

/**
 * How recovery turns bytes back into state. The storage is generic over the state: the server
 * passes the datatree's (`Database.restore` / `apply`), tests pass a simple model.
 */
export interface RecoveryCodec<S> {
  /** The state before any txn (used when no snapshot was ever written). */
  empty(): S;
  /** Rebuilds the state from a snapshot's chunks, as they were given to `snapshot()`. */
  load(chunks: AsyncIterable<Uint8Array>): Promise<S>;
  /** Applies one logged txn, in zxid order. */
  apply(state: S, entry: TxnEntry): void;
}

export interface RecoveryResult<S> {
  state: S;
  /** zxid of the last txn applied (or the snapshot's, when the log holds nothing newer). */
  lastZxid: bigint;
  /** zxid of the snapshot the state started from (0n when none). */
  snapshotZxid: bigint;
}

/**
 * Restart = newest valid snapshot + replay of every logged entry after it.
 *
 * - Snapshots are tried newest first; one that is cut short, has no trailer or fails its CRC is
 *   skipped (noted in `notes`) and the next older one is used; with none valid, replay starts
 *   from `codec.empty()`.
 * - The log's torn tail was already truncated when the log was opened; here every segment must
 *   scan cleanly, each segment must continue from a zxid the recovered history reaches (its header
 *   says which: this is what proves the log reaches back to the snapshot, or to zxid 0), and
 *   replayed zxids must be contiguous within an epoch. A hole is fatal (StorageCorruptionError
 *   naming file and offset), never skipped.
 * - The result must reach the newest snapshot file's zxid, damaged or not: falling short would
 *   silently forget txns the member had applied.
 */
export async function recoverState<S>(
  snapshots: SnapshotStore,
  log: TxnLog,
  io: StorageFs,
  maxRecordBytes: number,
  codec: RecoveryCodec<S>,
  notes: string[],
): Promise<RecoveryResult<S>> {
  const refs = await snapshots.list();
  let state: S | undefined;
  let snapshotZxid = 0n;
  const rejected: string[] = [];
  for (const ref of refs) {
    const loaded = await tryLoad(snapshots, ref, codec);
    if (loaded.ok) {
      state = loaded.state;
      snapshotZxid = ref.zxid;
      break;
    }
    rejected.push(loaded.problem);
    notes.push(`skipped snapshot ${ref.path}: ${loaded.problem}`);
  }
  if (state === undefined) {
    // Replaying the whole log is only right if it reaches back to the very first txn: the segment
    // chain below checks that (the first segment must continue from zxid 0).
    if (refs.length > 0) notes.push('no valid snapshot: replaying the whole log from an empty state');
    state = codec.empty();
  }
  const snapshotTrouble = rejected.length > 0 ? ` (snapshots skipped: ${rejected.join('; ')})` : '';

  const segments = log.segmentList();
  let start = 0;
  for (let i = 0; i < segments.length; i++) if (segments[i]!.firstZxid <= snapshotZxid + 1n) start = i;
  let prev = snapshotZxid;
  let lastSeen: bigint | undefined;
  for (let i = start; i < segments.length; i++) {
    const ref = segments[i]!;
    const bytes = await io.readFile(ref.path);
    // Each segment says which zxid it continues from; the history recovered so far must reach it,
    // or txns in between are missing (a lost segment, or a snapshot jump whose snapshot is gone).
    const continuesFrom = segmentPrevZxid(bytes, ref.firstZxid);
    if (continuesFrom !== undefined) {
      if (lastSeen !== undefined && continuesFrom < lastSeen) {
        throw new StorageCorruptionError(
          ref.path,
          24,
          `the segment continues from ${formatZxid(continuesFrom)}, before the previous segment's last entry ${formatZxid(lastSeen)}`,
        );
      }
      if (continuesFrom > prev) {
        throw new StorageCorruptionError(
          ref.path,
          24,
          `the segment continues from ${formatZxid(continuesFrom)} but the recovered history only reaches ${formatZxid(prev)}: the txns in between are missing${snapshotTrouble}`,
        );
      }
    }
    const scan = scanSegment(bytes, ref.firstZxid, maxRecordBytes, (entry, offset) => {
      if (entry.zxid <= snapshotZxid) return;
      if (entry.zxid <= prev) {
        throw new StorageCorruptionError(
          ref.path,
          offset,
          `zxid ${formatZxid(entry.zxid)} does not follow ${formatZxid(prev)}`,
        );
      }
      if (zxidEpoch(entry.zxid) === zxidEpoch(prev) && entry.zxid !== prev + 1n) {
        throw new StorageCorruptionError(
          ref.path,
          offset,
          `the log jumps from ${formatZxid(prev)} to ${formatZxid(entry.zxid)}: the txns in between are missing${snapshotTrouble}`,
        );
      }
      codec.apply(state as S, entry);
      prev = entry.zxid;
    });
    if (scan.damage) {
      throw new StorageCorruptionError(
        ref.path,
        scan.damage.offset,
        `${scan.damage.reason} (a segment before the tail must be intact)`,
      );
    }
    if (scan.lastZxid !== undefined) lastSeen = scan.lastZxid;
  }
  // A damaged snapshot newer than everything recovered means txns the member had applied (and
  // may have acknowledged to the leader) would silently be forgotten.
  const newest = refs[0];
  if (newest && newest.zxid > prev) {
    throw new StorageCorruptionError(
      newest.path,
      0,
      `the state reached ${formatZxid(newest.zxid)} but only ${formatZxid(prev)} can be recovered${snapshotTrouble}`,
    );
  }
  return { state, lastZxid: prev, snapshotZxid };
}

type Loaded<S> = { ok: true; state: S } | { ok: false; problem: string };

async function tryLoad<S>(
  snapshots: SnapshotStore,
  ref: SnapshotRef,
  codec: RecoveryCodec<S>,
): Promise<Loaded<S>> {
  const headerProblem = await snapshots.trailerProblem(ref);
  if (headerProblem) return { ok: false, problem: headerProblem };
  let exhausted = false;
  const source = snapshots.read(ref);
  const chunks: AsyncIterable<Uint8Array> = {
    async *[Symbol.asyncIterator]() {
      yield* source;
      exhausted = true;
    },
  };
  let state: S;
  try {
    state = await codec.load(chunks);
  } catch (err) {
    if (err instanceof StorageCorruptionError && err.file === ref.path) {
      return { ok: false, problem: `${err.reason} (at byte ${err.offset})` };
    }
    // The codec failed: blame the file only if the file really is damaged; otherwise it is a bug.
    const problem = await snapshots.verify(ref);
    if (problem) return { ok: false, problem };
    throw err;
  }
  if (!exhausted) {
    // The codec stopped early, so the CRC at the end was never checked: check it now.
    const problem = await snapshots.verify(ref);
    if (problem) return { ok: false, problem };
  }
  return { ok: true, state };
}
