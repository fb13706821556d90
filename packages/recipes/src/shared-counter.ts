/**
 * SharedCounter: an integer shared by every process, changed by compare-and-set (Curator's
 * SharedCount / DistributedAtomicLong). The value is the node's data as a decimal string.
 *
 * ```ts
 * const hits = new SharedCounter(client, '/stats/hits');
 * const now = await hits.add(1);          // returns the value after our increment
 * hits.value$.subscribe((v) => gauge.set(v));
 * ```
 *
 * `add(delta)` reads the value and its version and writes value+delta only if the version is
 * unchanged (setData with version); losing the race (BADVERSION) means someone else added first,
 * so it re-reads and tries again, with a small jittered backoff. Every successful add is applied
 * exactly once and the total is exact however many processes add concurrently.
 *
 * Connection states: nothing is held. SUSPENDED delays calls; `value$` keeps its last value and
 * re-reads on RECONNECTED. LOST → calls reject; `value$` keeps its value and keeps trying (the
 * client may come back on the same session). EXPIRED/CLOSED → calls reject and `value$` errors
 * with SessionLostError.
 *
 * Failure cases: if the reply of our write is lost (CONNECTIONLOSS) the add may or may not have
 * been applied; `add()` cannot tell and rethrows ConnectionLossError rather than risk counting
 * twice (as ZooKeeper's own API does). Values are JavaScript safe integers; going past
 * ±2^53 → BadArgumentsError. Data that is not an integer → DataInconsistencyError naming the node.
 */
import {
  BadArgumentsError,
  BadVersionError,
  DataInconsistencyError,
  isConclaveError,
  parentPath,
  validatePath,
} from '@conclave/core';
import { map, type Observable, shareReplay } from 'rxjs';
import type { RecipeClient } from './recipe-client.js';
import { fromUtf8, utf8 } from './internal/codec.js';
import { ensurePath } from './internal/paths.js';
import { retrying } from './internal/retry.js';
import { throwIfAborted } from './internal/abort.js';
import { watchNode } from './internal/watch-node.js';

export class SharedCounter {
  /** The current value (0 while the node does not exist), then every change. */
  readonly value$: Observable<number>;

  constructor(
    private readonly client: RecipeClient,
    readonly path: string,
  ) {
    validatePath(path);
    this.value$ = watchNode(client, path).pipe(
      map((snap) => (snap === null ? 0 : this.parse(snap.data))),
      shareReplay({ bufferSize: 1, refCount: true }),
    );
  }

  /** The current value (0 when the counter was never written). */
  async get(opts: { signal?: AbortSignal } = {}): Promise<number> {
    return (await this.read(opts.signal)).value;
  }

  /** Adds `delta` (may be negative) atomically; resolves with the value after our add. */
  async add(delta: number, opts: { signal?: AbortSignal; maxAttempts?: number } = {}): Promise<number> {
    if (!Number.isSafeInteger(delta))
      throw new BadArgumentsError(`SharedCounter: delta must be a safe integer, got ${delta}`, this.path);
    const maxAttempts = opts.maxAttempts ?? 10_000;
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      throwIfAborted(opts.signal);
      const { value, version } = await this.read(opts.signal);
      const next = value + delta;
      if (!Number.isSafeInteger(next))
        throw new BadArgumentsError(
          `SharedCounter: ${value} + ${delta} is beyond ±(2^53 - 1); use a smaller delta`,
          this.path,
        );
      try {
        if (version < 0) {
          await ensurePath(this.client, parentPath(this.path), opts.signal);
          await this.client.create(this.path, utf8(String(next)), {
            mode: 'PERSISTENT',
            signal: opts.signal,
          });
        } else {
          await this.client.setData(this.path, utf8(String(next)), { version, signal: opts.signal });
        }
        return next;
      } catch (err) {
        if (!isConclaveError(err, 'BADVERSION') && !isConclaveError(err, 'NODEEXISTS')) throw err;
        // Someone else added first. A short random pause breaks the lockstep of many contenders.
        await new Promise((r) => setTimeout(r, Math.random() * Math.min(20, attempt)));
      }
    }
    throw new BadVersionError(`add() lost the race ${maxAttempts} times: too much contention`, this.path);
  }

  private async read(signal?: AbortSignal): Promise<{ value: number; version: number }> {
    try {
      const { data, stat } = await retrying(
        this.client,
        () => this.client.getData(this.path, { signal }),
        signal,
      );
      return { value: this.parse(data), version: stat.version };
    } catch (err) {
      if (isConclaveError(err, 'NONODE')) return { value: 0, version: -1 };
      throw err;
    }
  }

  private parse(data: Uint8Array): number {
    const text = fromUtf8(data).trim();
    const value = text === '' ? 0 : Number(text);
    if (!Number.isSafeInteger(value)) {
      throw new DataInconsistencyError(
        `the counter holds ${JSON.stringify(text)}, not an integer`,
        this.path,
      );
    }
    return value;
  }
}
