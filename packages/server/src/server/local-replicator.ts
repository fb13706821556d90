import { makeZxid, type TxnEntry, ZXID_COUNTER_ROLLOVER_LIMIT, zxidCounter, zxidEpoch } from '@conclave/core';
import type { Proposal, Replicator, ReplicatorHandlers } from './replicator.js';

/** The part of Storage (log/) the replicator needs. */
export interface ReplicaLog {
  append(entry: TxnEntry): Promise<void>;
  readEpochs(): Promise<{ acceptedEpoch: number; currentEpoch: number }>;
  writeAcceptedEpoch(epoch: number): Promise<void>;
  writeCurrentEpoch(epoch: number): Promise<void>;
}

/**
 * Appends that share one durability promise: the log's group commit hands every append of a batch
 * the same promise, so one `then` per batch (not per append) learns they are durable.
 */
interface PendingBatch {
  promise: Promise<void>;
  /** The last zxid appended with this promise. */
  lastZxid: bigint;
  durable: boolean;
}

/**
 * A one-member quorum: a proposal is committed once it is durable in the local log. Appends are
 * issued at once (the log's group commit batches their fsyncs) and commits are delivered strictly
 * in zxid order even if appends were to complete out of order.
 *
 * On start it behaves like a newly elected ZAB leader: the new epoch is one more than any epoch
 * seen before, persisted (accepted, then current) before the first proposal.
 */
export class LocalReplicator implements Replicator {
  readonly mode = 'standalone';
  readonly isLeader = true;
  private handlers: ReplicatorHandlers | null = null;
  private epoch = 0;
  private counter = 0;
  /** Proposed, not yet committed, in zxid order. */
  private readonly inFlight: TxnEntry[] = [];
  /** Append promises not yet known durable, in append order. */
  private readonly batches: PendingBatch[] = [];
  /** Every entry up to this zxid is durable (the prefix of `batches` that resolved). */
  private durableZxid = 0n;
  /** Proposals held while a new epoch is being persisted (zxid counter rollover). */
  private held: Proposal[] | null = null;
  private failed: Error | null = null;
  private syncWaiters: { upTo: bigint; resolve: () => void }[] = [];
  private lastCommitted: bigint;
  private closed = false;

  constructor(
    private readonly log: ReplicaLog,
    lastZxid: bigint,
  ) {
    this.lastCommitted = lastZxid;
  }

  async start(handlers: ReplicatorHandlers): Promise<void> {
    this.handlers = handlers;
    const { acceptedEpoch, currentEpoch } = await this.log.readEpochs();
    await this.newEpoch(Math.max(acceptedEpoch, currentEpoch, zxidEpoch(this.lastCommitted)) + 1);
  }

  private async newEpoch(epoch: number): Promise<void> {
    await this.log.writeAcceptedEpoch(epoch);
    await this.log.writeCurrentEpoch(epoch);
    this.epoch = epoch;
    this.counter = 0;
  }

  get currentEpoch(): number {
    return this.epoch;
  }

  get pending(): number {
    return this.inFlight.length + (this.held?.length ?? 0);
  }

  propose(proposal: Proposal): void {
    if (this.handlers === null) throw new Error('invariant: propose before start');
    if (this.closed) throw new Error('invariant: propose after close');
    if (this.failed !== null) return;
    if (this.held !== null) {
      this.held.push(proposal);
      return;
    }
    if (this.counter >= ZXID_COUNTER_ROLLOVER_LIMIT) {
      // ZOOKEEPER-1277: never wrap the counter; move to a new epoch first.
      this.held = [proposal];
      this.newEpoch(this.epoch + 1).then(
        () => {
          const held = this.held ?? [];
          this.held = null;
          for (const p of held) this.propose(p);
        },
        (err: Error) => this.fail(err),
      );
      return;
    }
    this.counter++;
    const entry: TxnEntry = {
      zxid: makeZxid(this.epoch, this.counter),
      sessionId: proposal.sessionId,
      cxid: proposal.cxid,
      time: proposal.time,
      txn: proposal.txn,
    };
    this.inFlight.push(entry);
    const promise = this.log.append(entry);
    const tail = this.batches[this.batches.length - 1];
    if (tail !== undefined && tail.promise === promise) {
      tail.lastZxid = entry.zxid;
      return;
    }
    const batch: PendingBatch = { promise, lastZxid: entry.zxid, durable: false };
    this.batches.push(batch);
    promise.then(
      () => {
        batch.durable = true;
        try {
          this.commitReady();
        } catch (err) {
          // Applying a committed txn threw: an invariant broke. Stop serving, loudly, rather than
          // go on with a state we no longer trust.
          this.fail(err as Error);
        }
      },
      (err: Error) => this.fail(err),
    );
  }

  /** Commits, in zxid order, every entry covered by the durable prefix of the batches. */
  private commitReady(): void {
    // Batches may in principle resolve out of order: only a durable prefix counts.
    while (this.batches.length > 0 && this.batches[0]!.durable)
      this.durableZxid = this.batches.shift()!.lastZxid;
    while (this.failed === null) {
      const head = this.inFlight[0];
      if (head === undefined || head.zxid > this.durableZxid) break;
      this.inFlight.shift();
      if (zxidCounter(head.zxid) === 0) throw new Error('invariant: zxid counter 0 is never proposed');
      this.lastCommitted = head.zxid;
      this.handlers!.commit(head);
    }
    this.releaseSyncs();
  }

  private releaseSyncs(): void {
    if (this.syncWaiters.length === 0) return;
    const still: typeof this.syncWaiters = [];
    for (const w of this.syncWaiters) {
      if (w.upTo <= this.lastCommitted || this.failed !== null) w.resolve();
      else still.push(w);
    }
    this.syncWaiters = still;
  }

  private fail(err: Error): void {
    if (this.failed !== null) return;
    this.failed = err;
    this.releaseSyncs();
    this.handlers?.fail(err);
  }

  sync(): Promise<void> {
    // Everything proposed so far is what "committed before the call" can at most be.
    const last = this.inFlight[this.inFlight.length - 1];
    if (last === undefined && this.held === null) return Promise.resolve();
    const upTo = last?.zxid ?? this.lastCommitted;
    return new Promise((resolve) => this.syncWaiters.push({ upTo, resolve }));
  }

  async close(): Promise<void> {
    this.closed = true;
    const deadline = Date.now() + 5000;
    while (this.inFlight.length > 0 && this.failed === null && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 5));
    }
  }
}
