import type { Id, RequestFrame, Txn } from '@conclave/core';
import type { PrepContext, PrepResult, Preparer } from '../datatree/index.js';

/** What {@link RoutingPreparer} hands the pipeline instead of a txn: a request for the leader to prep. */
export type RoutedRequest =
  | { kind: 'op'; frame: RequestFrame; authIds: Id[]; clientIp?: string; nowMs: number }
  | { kind: 'createSession'; timeoutMs: number; password: Uint8Array }
  | { kind: 'closeSession' };

/** The placeholder txn a routed request travels in through the pipeline to the replicator. */
export interface RoutedTxn {
  type: '@routed';
  request: RoutedRequest;
}

export function isRoutedTxn(txn: Txn | RoutedTxn): txn is RoutedTxn {
  return txn.type === '@routed';
}

/**
 * Stands in for the Preparer in an ensemble member's request pipeline. In an ensemble only the
 * leader may prep (its Preparer knows every outstanding change), so on every member — the leader
 * included, for one code path — the pipeline's prep step just wraps the request; the replicator
 * forwards it to the leader, whose own Preparer turns it into the txn that gets ordered.
 *
 * The pipeline still gets per-request tokens (it settles them in order); they name nothing here.
 */
export class RoutingPreparer {
  private token = 0;

  get lastToken(): number {
    return this.token;
  }

  prep(request: RequestFrame, ctx: PrepContext): PrepResult {
    const routed: RoutedRequest = {
      kind: 'op',
      frame: request,
      // Copied: the connection's list grows with later addAuth calls, which must not affect this write.
      authIds: ctx.authIds.map((a) => ({ scheme: a.scheme, id: a.id })),
      nowMs: ctx.nowMs,
    };
    if (ctx.clientIp !== undefined) routed.clientIp = ctx.clientIp;
    return { txn: wrap(routed), token: ++this.token };
  }

  createSession(timeoutMs: number, password: Uint8Array): Txn {
    this.token++;
    return wrap({ kind: 'createSession', timeoutMs, password });
  }

  closeSession(_sessionId: bigint): Txn {
    this.token++;
    return wrap({ kind: 'closeSession' });
  }

  /** Container/TTL cleanup is not run by ensemble members yet (see ensemble/README.md). */
  reap(_path: string, _nowMs: number): PrepResult | undefined {
    return undefined;
  }

  settle(_token: number): void {}

  reset(): void {}

  /** The pipeline's view of this object: the Preparer methods it calls. */
  asPreparer(): Preparer {
    return this as unknown as Preparer;
  }
}

function wrap(request: RoutedRequest): Txn {
  return { type: '@routed', request } satisfies RoutedTxn as unknown as Txn;
}
