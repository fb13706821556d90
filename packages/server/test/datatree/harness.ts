import type { Id, Txn, TxnEntry } from '@conclave/core';
import {
  type ApplyResult,
  Database,
  type PrepContext,
  Preparer,
  type WriteRequest,
} from '../../src/datatree/index.js';

/** A leader in miniature: prep → apply (with increasing zxids) → settle. */
export class Harness {
  readonly db: Database;
  readonly prep: Preparer;
  zxid = 0n;
  time = 1_700_000_000_000;
  readonly log: TxnEntry[] = [];

  constructor(opts: { maxDataBytes?: number; superDigest?: string } = {}) {
    this.db = new Database({ maxDataBytes: opts.maxDataBytes });
    this.prep = new Preparer(this.db, { superDigest: opts.superDigest });
  }

  ctx(sessionId = 1n, authIds: Id[] = []): PrepContext {
    return { sessionId, authIds, nowMs: this.time };
  }

  applyTxn(txn: Txn, sessionId = 1n): ApplyResult {
    this.zxid++;
    this.time += 1000;
    const entry: TxnEntry = { zxid: this.zxid, sessionId, cxid: 0, time: this.time, txn };
    this.log.push(entry);
    return this.db.apply(entry);
  }

  /** Preps and applies one request. */
  run(request: WriteRequest, sessionId = 1n, authIds: Id[] = []): ApplyResult {
    const { txn, token } = this.prep.prep(request, { sessionId, authIds, nowMs: this.time + 1000 });
    const r = this.applyTxn(txn, sessionId);
    this.prep.settle(token);
    return r;
  }

  openSession(sessionId: bigint, timeoutMs = 10_000): void {
    const txn = this.prep.createSession(timeoutMs, new Uint8Array([1, 2, 3]));
    this.applyTxn(txn, sessionId);
    this.prep.settle(this.prep.lastToken);
  }
}

export const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
