import { type ACL, BadArgumentsError, type CreateModeFlag, type CreateModeName } from '@conclave/core';
import type { Data } from './arguments.js';
import type { Op, OpResult } from './multi-op.js';

/**
 * A builder for an atomic `multi`, Curator/kazoo style:
 *
 * ```ts
 * const results = await client.transaction()
 *   .check('/config', 3)
 *   .create('/config/next', 'v2')
 *   .setData('/config', 'pointer', { version: 3 })
 *   .delete('/config/old')
 *   .commit();
 * ```
 *
 * Either every op is applied or none is; a failure rejects with the typed error of the first op
 * that failed (its `results` property lists every op's outcome). A transaction commits once.
 */
export class Transaction {
  private readonly ops: Op[] = [];
  private committed = false;
  private readonly run: (ops: Op[], signal: AbortSignal | undefined) => Promise<OpResult[]>;

  /** @internal use `client.transaction()` */
  constructor(run: (ops: Op[], signal: AbortSignal | undefined) => Promise<OpResult[]>) {
    this.run = run;
  }

  create(
    path: string,
    data?: Data,
    opts: { mode?: CreateModeName | CreateModeFlag; acl?: readonly ACL[]; ttlMs?: number } = {},
  ): this {
    this.ops.push({ op: 'create', path, data, ...opts });
    return this;
  }

  delete(path: string, opts: { version?: number } = {}): this {
    this.ops.push({ op: 'delete', path, version: opts.version });
    return this;
  }

  setData(path: string, data: Data, opts: { version?: number } = {}): this {
    this.ops.push({ op: 'setData', path, data, version: opts.version });
    return this;
  }

  /** Fails the whole transaction unless `path` is at `version` (-1: unless it exists). */
  check(path: string, version: number): this {
    this.ops.push({ op: 'check', path, version });
    return this;
  }

  /** The ops added so far. */
  get size(): number {
    return this.ops.length;
  }

  commit(opts: { signal?: AbortSignal } = {}): Promise<OpResult[]> {
    if (this.committed) {
      return Promise.reject(new BadArgumentsError('this transaction was already committed; build a new one'));
    }
    this.committed = true;
    return this.run(this.ops.slice(), opts.signal);
  }
}
