/**
 * ConfigValue: one typed configuration value kept in a znode, observed by every process
 * (Curator's SharedValue, with a codec and an Observable).
 *
 * ```ts
 * const limits = new ConfigValue<{ maxConns: number }>(client, '/config/limits', {
 *   defaultValue: { maxConns: 100 },
 * });
 * limits.value$.subscribe((v) => server.setMaxConns(v.maxConns));
 * await limits.update((v) => ({ ...v, maxConns: v.maxConns * 2 }));   // CAS loop
 * ```
 *
 * `value$` emits the current value, then every change. It is built on one-shot watches re-armed on
 * every read and re-reads after every reconnect, so it survives SUSPENDED/RECONNECTED (and a server
 * restart within the session timeout). It never emits an older version after a newer one: reads
 * are serialized and a snapshot whose mzxid is not newer than the last one emitted is dropped.
 * Watches fire once per change *seen*, not per write: a subscriber that is slow or disconnected
 * sees the latest value, possibly skipping intermediate ones (ZooKeeper semantics) — but always in
 * version order and always ending at the last value.
 *
 * While the node does not exist, `value$` emits `defaultValue` if one was given, else nothing (it
 * emits once the node is created); `get()`/`update()` on an absent node without a default reject
 * with NoNodeError.
 *
 * Connection states: SUSPENDED → `value$` keeps its last value; RECONNECTED → re-read, emits if it
 * changed meanwhile. LOST → `value$` keeps its last value and keeps trying: the client may come
 * back on the same session (sessions survive a server restart), then it re-reads.
 * EXPIRED/CLOSED → `value$` errors with SessionLostError (create a new client and a new
 * ConfigValue).
 *
 * Failure cases: `set()` with a version that no longer matches → BadVersionError; `update()`
 * retries on BADVERSION (bounded by `maxAttempts`). A `setData` whose reply is lost
 * (CONNECTIONLOSS) may or may not have been applied: `set()` rethrows it; `update()` re-reads and
 * runs `fn` again on the fresh value, so `fn` must be a pure function of the value it is given.
 * A value the codec cannot decode makes `value$` error with the codec's error.
 */
import { BadVersionError, isConclaveError, parentPath, type Stat, validatePath } from '@conclave/core';
import { filter, map, type Observable, shareReplay } from 'rxjs';
import type { RecipeClient } from './recipe-client.js';
import { type Codec, jsonCodec } from './internal/codec.js';
import { ensurePath } from './internal/paths.js';
import { throwIfAborted } from './internal/abort.js';
import { isRetryable, retrying, whenConnected } from './internal/retry.js';
import { type NodeSnapshot, watchNode } from './internal/watch-node.js';

export interface ConfigValueOptions<T> {
  /** How values become bytes; JSON by default. */
  codec?: Codec<T>;
  /** What `get()` and `value$` give while the node does not exist (else `get()` throws NoNodeError). */
  defaultValue?: T;
}

/** A value with the znode version it was read at (pass it to `set()` for a compare-and-set). */
export interface Versioned<T> {
  value: T;
  /** The znode's data version; -1 when the node does not exist (the default value). */
  version: number;
  stat: Stat | null;
}

export class ConfigValue<T> {
  private readonly codec: Codec<T>;
  private readonly hasDefault: boolean;
  private readonly defaultValue: T | undefined;
  /** Shared by all subscribers: one watch loop per ConfigValue, replaying the latest to newcomers. */
  readonly versioned$: Observable<Versioned<T>>;
  /** The current value, then every change (see the module doc for the guarantees). */
  readonly value$: Observable<T>;

  constructor(
    private readonly client: RecipeClient,
    readonly path: string,
    opts: ConfigValueOptions<T> = {},
  ) {
    validatePath(path);
    this.codec = opts.codec ?? jsonCodec<T>();
    this.hasDefault = 'defaultValue' in opts;
    this.defaultValue = opts.defaultValue;
    this.versioned$ = watchNode(client, path).pipe(
      filter((snap) => snap !== null || this.hasDefault),
      map((snap) => this.toVersioned(snap)),
      shareReplay({ bufferSize: 1, refCount: true }),
    );
    this.value$ = this.versioned$.pipe(map((v) => v.value));
  }

  /** Reads the current value and its version. */
  async getVersioned(opts: { signal?: AbortSignal } = {}): Promise<Versioned<T>> {
    try {
      return this.toVersioned(
        await retrying(this.client, () => this.client.getData(this.path, opts), opts.signal),
      );
    } catch (err) {
      if (isConclaveError(err, 'NONODE') && this.hasDefault) return this.toVersioned(null);
      throw err;
    }
  }

  /** Reads the current value. */
  async get(opts: { signal?: AbortSignal } = {}): Promise<T> {
    return (await this.getVersioned(opts)).value;
  }

  /**
   * Writes a value. With `version` it is a compare-and-set: BadVersionError unless the node is
   * still at that version (-1 from `getVersioned()` of an absent node means "must not exist yet").
   * Resolves with the new stat.
   */
  async set(value: T, opts: { version?: number; signal?: AbortSignal } = {}): Promise<Stat> {
    const data = this.codec.encode(value);
    const { version, signal } = opts;
    if (version === -1) return this.createFresh(data, signal);
    try {
      return await this.client.setData(this.path, data, { version: version ?? -1, signal });
    } catch (err) {
      if (isConclaveError(err, 'NONODE') && version === undefined)
        return this.createFresh(data, signal, true);
      throw err;
    }
  }

  /**
   * Read-modify-write as a CAS loop: reads the value, computes `fn(value)`, writes it only if no
   * one wrote in between, else starts over. Resolves with the value written.
   */
  async update(fn: (current: T) => T, opts: { signal?: AbortSignal; maxAttempts?: number } = {}): Promise<T> {
    const maxAttempts = opts.maxAttempts ?? 1000;
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      throwIfAborted(opts.signal);
      const current = await this.getVersioned(opts);
      const next = fn(current.value);
      try {
        await this.set(next, { version: current.version, signal: opts.signal });
        return next;
      } catch (err) {
        if (isConclaveError(err, 'BADVERSION') || isConclaveError(err, 'NODEEXISTS')) {
          // Lost the race: back off a little (jittered) so contenders do not stay in lockstep.
          await new Promise((r) => setTimeout(r, Math.random() * Math.min(50, attempt * 2)));
          continue;
        }
        if (isRetryable(err)) {
          await whenConnected(this.client, opts.signal);
          continue;
        }
        throw err;
      }
    }
    throw new BadVersionError(`update() lost the race ${maxAttempts} times: too much contention`, this.path);
  }

  private async createFresh(data: Uint8Array, signal?: AbortSignal, orSet = false): Promise<Stat> {
    await ensurePath(this.client, parentPath(this.path), signal);
    try {
      await this.client.create(this.path, data, { mode: 'PERSISTENT', signal });
    } catch (err) {
      if (isConclaveError(err, 'NODEEXISTS')) {
        if (orSet) {
          return this.client.setData(this.path, data, { version: -1, signal });
        }
        throw new BadVersionError('the node was created meanwhile: re-read it and retry', this.path);
      }
      throw err;
    }
    const stat = await retrying(this.client, () => this.client.exists(this.path, { signal }), signal);
    if (stat === null) throw new Error(`invariant: ${this.path} vanished right after we created it`);
    return stat;
  }

  private toVersioned(snap: NodeSnapshot | null): Versioned<T> {
    if (snap === null) {
      if (!this.hasDefault) throw new Error(`invariant: no default value for ${this.path}`);
      return { value: this.defaultValue as T, version: -1, stat: null };
    }
    return { value: this.codec.decode(snap.data), version: snap.stat.version, stat: snap.stat };
  }
}
