/**
 * TwoPhaseCommit: an atomic commit across processes — every participant commits, or every one
 * aborts — with the decision kept in Conclave so that no crash can leave it undecided or flip it
 * (ZooKeeper's two-phase-commit recipe, hardened).
 *
 * ```ts
 * const tpc = new TwoPhaseCommit(client, '/tx');
 * // coordinator
 * const outcome = await tpc.run('order-17', { participants: ['stock', 'billing'], timeoutMs: 10_000 });
 * // each participant (any process)
 * await tpc.join('order-17', 'stock', {
 *   prepare: async () => reserveStock(),        // true = vote yes (must be durable before returning)
 *   commit: async () => confirmReservation(),   // must be idempotent
 *   abort: async () => releaseReservation(),    // must be idempotent
 * });
 * ```
 *
 * Protocol (znodes under `<basePath>/<txId>`):
 * 1. The coordinator creates the transaction node (holding the participant list and the timeout)
 *    together with its `votes` and `acks` children in one multi.
 * 2. Each participant runs `prepare()` and records its vote as `votes/<id>` ('yes' or 'no').
 * 3. The coordinator decides: 'commit' once every participant voted yes, 'abort' at the first no
 *    or when the deadline (creation time + timeoutMs) passes. It records the decision by
 *    *creating* `decision`. Create-if-absent is the arbiter: exactly one create succeeds, and
 *    whoever loses (NODEEXISTS) reads and adopts the recorded decision. So the decision is durable
 *    (on a quorum) before anyone acts on it, and once recorded it never changes.
 * 4. Participants learn the decision only from that node, run `commit()` or `abort()`, and record
 *    `acks/<id>`.
 *
 * Failure cases:
 * - A participant votes no, or `prepare()` throws → abort.
 * - A participant dies before voting → no decision until the deadline → the coordinator records
 *   abort. Participants that already voted yes then abort.
 * - The coordinator dies before deciding → the participants wait; past the deadline plus
 *   `graceMs` any participant may record abort itself (the same create-if-absent arbiter makes
 *   that safe: if a commit was recorded first, the participant adopts commit). Nobody but the
 *   coordinator ever records commit. A restarted coordinator (`run()` again with the same txId)
 *   picks up where it left off.
 * - The coordinator dies after deciding → the decision is in Conclave; every participant finds it
 *   and finishes. `run()` called again returns the recorded decision.
 * - A participant dies after voting → when it comes back, `join()` again finds its vote (it does
 *   not prepare twice) and the decision, runs the matching handler and acks. It must therefore keep
 *   what it prepared durably, and `commit()`/`abort()` must be idempotent (a crash between the
 *   handler and the ack runs the handler again).
 * - Timeouts use the transaction node's creation time (the server's clock) against each process's
 *   clock: keep clocks synchronised to well under `timeoutMs`.
 *
 * Connection states: nothing is ephemeral, so SUSPENDED only delays, and RECONNECTED re-reads
 * everything (watches lost during the gap cannot hide a vote or the decision). A LOST while
 * waiting keeps waiting (nothing is held; the client may come back on the same session).
 * EXPIRED/CLOSED (and a LOST that interrupts a read) make `run()`/`join()` reject with
 * SessionLostError — but the transaction's state is durable: call them again from a new client
 * to finish it.
 */
import {
  BadArgumentsError,
  CreateMode,
  ErrorCode,
  isConclaveError,
  joinPath,
  OPEN_ACL_UNSAFE,
  validatePath,
} from '@conclave/core';
import type { RecipeClient } from './recipe-client.js';
import { fromUtf8, utf8 } from './internal/codec.js';
import { validateId } from './internal/ephemeral.js';
import { multiOutcome } from './internal/multi.js';
import { createIfAbsent, ensurePath } from './internal/paths.js';
import { retrying } from './internal/retry.js';
import { Waiter } from './internal/waiter.js';

export type Decision = 'commit' | 'abort';
export type Outcome = 'committed' | 'aborted';

/** What a participant does in each phase. */
export interface ParticipantHandlers {
  /** Phase one: get ready to commit and vote. true/'yes' = can commit; false/'no' or a throw = abort. */
  prepare(): Promise<boolean | 'yes' | 'no'> | boolean | 'yes' | 'no';
  /** Phase two after a commit decision; must be idempotent. */
  commit(): Promise<void> | void;
  /** Phase two after an abort decision (also when we never prepared); must be idempotent. */
  abort(): Promise<void> | void;
}

interface TxRecord {
  participants: string[];
  timeoutMs: number;
}

const outcomeOf = (d: Decision): Outcome => (d === 'commit' ? 'committed' : 'aborted');

export class TwoPhaseCommit {
  constructor(
    private readonly client: RecipeClient,
    readonly basePath: string,
  ) {
    validatePath(basePath);
  }

  /**
   * Coordinates transaction `txId`: resolves with the outcome once the decision is recorded.
   * Calling it again (e.g. after a coordinator restart) continues the same transaction.
   */
  async run(
    txId: string,
    opts: { participants: string[]; timeoutMs: number; signal?: AbortSignal },
  ): Promise<Outcome> {
    const { participants, timeoutMs, signal } = opts;
    validateId(txId, 'TwoPhaseCommit txId');
    if (participants.length === 0)
      throw new BadArgumentsError('TwoPhaseCommit: participants must not be empty');
    for (const p of participants) validateId(p, 'TwoPhaseCommit participant');
    if (new Set(participants).size !== participants.length) {
      throw new BadArgumentsError('TwoPhaseCommit: participant ids must be unique');
    }
    if (!(timeoutMs > 0))
      throw new BadArgumentsError(`TwoPhaseCommit: timeoutMs must be > 0, got ${timeoutMs}`);

    const tx = this.txPath(txId);
    await ensurePath(this.client, this.basePath, signal);
    const record: TxRecord = { participants: [...participants].sort(), timeoutMs };
    await this.createTx(tx, record, signal);
    const { record: stored, deadlineMs } = await this.readTx(tx, signal);
    if (stored.participants.join('\n') !== record.participants.join('\n')) {
      throw new BadArgumentsError(
        `transaction ${txId} exists with other participants: ${stored.participants}`,
        tx,
      );
    }

    const votes = new Map<string, Decision>();
    const waiter = new Waiter(this.client, { signal, what: `coordinating transaction ${txId}` });
    try {
      for (;;) {
        waiter.check();
        const recorded = await this.readDecision(tx, waiter.wake, signal);
        if (recorded !== null) return outcomeOf(recorded);
        const { children } = await retrying(
          this.client,
          () => this.client.getChildren(joinPath(tx, 'votes'), { watch: waiter.wake, signal }),
          signal,
        );
        for (const id of children) {
          if (votes.has(id) || !stored.participants.includes(id)) continue;
          const { data } = await retrying(
            this.client,
            () => this.client.getData(joinPath(tx, 'votes', id), { signal }),
            signal,
          );
          votes.set(id, fromUtf8(data) === 'yes' ? 'commit' : 'abort');
        }
        let decision: Decision | undefined;
        if ([...votes.values()].includes('abort')) decision = 'abort';
        else if (stored.participants.every((p) => votes.get(p) === 'commit')) decision = 'commit';
        else if (Date.now() >= deadlineMs) decision = 'abort';
        if (decision !== undefined) return outcomeOf(await this.decide(tx, decision, signal));
        await waiter.wait(Math.max(1, deadlineMs - Date.now()));
      }
    } finally {
      waiter.dispose();
    }
  }

  /**
   * Takes part in transaction `txId` as `id`: waits for the transaction to exist, prepares and
   * votes (unless it voted before a restart), waits for the decision, applies it and acks.
   * `graceMs` (default: the transaction's timeoutMs) is how long past the deadline to wait for the
   * coordinator before recording abort ourselves; `timeoutMs` bounds the wait for the transaction
   * to be created.
   */
  async join(
    txId: string,
    id: string,
    handlers: ParticipantHandlers,
    opts: { signal?: AbortSignal; timeoutMs?: number; graceMs?: number } = {},
  ): Promise<Outcome> {
    const { signal } = opts;
    validateId(txId, 'TwoPhaseCommit txId');
    validateId(id, 'TwoPhaseCommit participant');
    const tx = this.txPath(txId);
    const waiter = new Waiter(this.client, {
      signal,
      timeoutMs: opts.timeoutMs,
      what: `joining transaction ${txId}`,
    });
    try {
      // The coordinator may not have created the transaction yet.
      for (;;) {
        waiter.check();
        const stat = await retrying(
          this.client,
          () => this.client.exists(tx, { watch: waiter.wake, signal }),
          signal,
        );
        if (stat !== null) break;
        await waiter.waitOrTimeout();
      }
    } finally {
      waiter.dispose();
    }
    const read = await this.readTx(tx, signal);
    if (!read.record.participants.includes(id)) {
      throw new BadArgumentsError(`${id} is not a participant of transaction ${txId}`, tx);
    }
    const deadlineMs = read.deadlineMs + (opts.graceMs ?? read.record.timeoutMs);

    const ackPath = joinPath(tx, 'acks', id);
    let decision = await this.readDecision(tx, undefined, signal);
    if (
      decision !== null &&
      (await retrying(this.client, () => this.client.exists(ackPath, { signal }), signal))
    ) {
      return outcomeOf(decision); // finished before a restart
    }
    if (decision === null) {
      await this.vote(tx, id, handlers, signal);
      decision = await this.awaitDecision(tx, txId, deadlineMs, signal);
    }
    if (decision === 'commit') await handlers.commit();
    else await handlers.abort();
    await this.createIfAbsent(ackPath, '', signal);
    return outcomeOf(decision);
  }

  /** The recorded decision of `txId`, or null while undecided (or unknown). */
  async decision(txId: string, opts: { signal?: AbortSignal } = {}): Promise<Decision | null> {
    return this.readDecision(this.txPath(txId), undefined, opts.signal);
  }

  /** The participants that have applied the decision. */
  async acked(txId: string, opts: { signal?: AbortSignal } = {}): Promise<string[]> {
    const path = joinPath(this.txPath(txId), 'acks');
    try {
      return (
        await retrying(this.client, () => this.client.getChildren(path, opts), opts.signal)
      ).children.sort();
    } catch (err) {
      if (isConclaveError(err, 'NONODE')) return [];
      throw err;
    }
  }

  /** Deletes a finished transaction's nodes (call once every participant acked). */
  async remove(txId: string, opts: { signal?: AbortSignal } = {}): Promise<void> {
    const tx = this.txPath(txId);
    for (const dir of ['votes', 'acks']) {
      let children: string[] = [];
      try {
        children = (await this.client.getChildren(joinPath(tx, dir), opts)).children;
      } catch (err) {
        if (!isConclaveError(err, 'NONODE')) throw err;
      }
      for (const c of children) await this.deleteQuietly(joinPath(tx, dir, c));
      await this.deleteQuietly(joinPath(tx, dir));
    }
    await this.deleteQuietly(joinPath(tx, 'decision'));
    await this.deleteQuietly(tx);
  }

  private async vote(
    tx: string,
    id: string,
    handlers: ParticipantHandlers,
    signal?: AbortSignal,
  ): Promise<void> {
    const votePath = joinPath(tx, 'votes', id);
    // Voted before a crash? Then that vote stands: the coordinator may already have counted it.
    if ((await retrying(this.client, () => this.client.exists(votePath, { signal }), signal)) !== null)
      return;
    let yes: boolean;
    try {
      const v = await handlers.prepare();
      yes = v === true || v === 'yes';
    } catch {
      yes = false; // a participant that cannot prepare votes no
    }
    await this.createIfAbsent(votePath, yes ? 'yes' : 'no', signal);
  }

  private async awaitDecision(
    tx: string,
    txId: string,
    deadlineMs: number,
    signal?: AbortSignal,
  ): Promise<Decision> {
    const waiter = new Waiter(this.client, {
      signal,
      what: `waiting for the decision of transaction ${txId}`,
    });
    try {
      for (;;) {
        waiter.check();
        const decision = await this.readDecision(tx, waiter.wake, signal);
        if (decision !== null) return decision;
        if (Date.now() >= deadlineMs) return await this.decide(tx, 'abort', signal);
        await waiter.wait(Math.max(1, deadlineMs - Date.now()));
      }
    } finally {
      waiter.dispose();
    }
  }

  /** Records `want` unless a decision exists; returns the decision that stands. */
  private async decide(tx: string, want: Decision, signal?: AbortSignal): Promise<Decision> {
    const path = joinPath(tx, 'decision');
    const created = await this.createIfAbsent(path, want, signal);
    if (created) return want;
    const recorded = await this.readDecision(tx, undefined, signal);
    if (recorded === null) throw new Error(`invariant: ${tx}/decision existed and then vanished`);
    return recorded;
  }

  private async readDecision(
    tx: string,
    watch: (() => void) | undefined,
    signal?: AbortSignal,
  ): Promise<Decision | null> {
    const path = joinPath(tx, 'decision');
    try {
      const { data } = await retrying(
        this.client,
        () => this.client.getData(path, watch === undefined ? { signal } : { watch, signal }),
        signal,
      );
      const text = fromUtf8(data);
      if (text !== 'commit' && text !== 'abort')
        throw new Error(`invariant: ${path} holds ${JSON.stringify(text)}`);
      return text;
    } catch (err) {
      if (!isConclaveError(err, 'NONODE')) throw err;
      // Absent: arm a creation watch so the caller's wait wakes when it is recorded.
      if (watch !== undefined) {
        const stat = await retrying(this.client, () => this.client.exists(path, { watch, signal }), signal);
        if (stat !== null) return this.readDecision(tx, undefined, signal);
      }
      return null;
    }
  }

  private async createTx(tx: string, record: TxRecord, signal?: AbortSignal): Promise<void> {
    const empty = new Uint8Array(0);
    const acl = [...OPEN_ACL_UNSAFE];
    await retrying(
      this.client,
      async () => {
        const { errno } = await multiOutcome(
          this.client,
          [
            { op: 'create', path: tx, data: utf8(JSON.stringify(record)), acl, mode: CreateMode.PERSISTENT },
            { op: 'create', path: joinPath(tx, 'votes'), data: empty, acl, mode: CreateMode.PERSISTENT },
            { op: 'create', path: joinPath(tx, 'acks'), data: empty, acl, mode: CreateMode.PERSISTENT },
          ],
          signal,
        );
        // NODEEXISTS: created before (a restarted coordinator, or our own retried multi); the
        // server answers it once that create is applied, so our next reads see the transaction.
        if (errno !== 0 && errno !== ErrorCode.NODEEXISTS)
          throw new Error(`invariant: creating ${tx} failed: ${errno}`);
      },
      signal,
    );
  }

  private async readTx(tx: string, signal?: AbortSignal): Promise<{ record: TxRecord; deadlineMs: number }> {
    const { data, stat } = await retrying(this.client, () => this.client.getData(tx, { signal }), signal);
    let record: TxRecord;
    try {
      record = JSON.parse(fromUtf8(data)) as TxRecord;
    } catch {
      throw new BadArgumentsError(`${tx} is not a transaction node`, tx);
    }
    if (!Array.isArray(record.participants) || typeof record.timeoutMs !== 'number') {
      throw new BadArgumentsError(`${tx} is not a transaction node`, tx);
    }
    return { record, deadlineMs: stat.ctime + record.timeoutMs };
  }

  /**
   * Creates a persistent node; false when it already existed. After a lost reply the node may be
   * our own; callers then re-read what is recorded, so "false" is always safe.
   */
  private createIfAbsent(path: string, data: string, signal?: AbortSignal): Promise<boolean> {
    return createIfAbsent(this.client, path, utf8(data), signal);
  }

  private async deleteQuietly(path: string): Promise<void> {
    try {
      await this.client.delete(path);
    } catch (err) {
      if (!isConclaveError(err, 'NONODE')) throw err;
    }
  }

  private txPath(txId: string): string {
    return joinPath(this.basePath, txId);
  }
}
