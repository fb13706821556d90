import { ConclaveError, ErrorCode, type Txn } from '@conclave/core';
import type { Logger } from 'pino';
import { type Database, Preparer } from '../datatree/index.js';
import { TokenSettler } from '../server/token-settler.js';
import type { ForwardedWrite } from './messages.js';

/**
 * The leader's prep state for one leadership: a Preparer over the Database (so it sees every
 * outstanding, proposed-but-unapplied change), the tokens of what it proposed, and how long those
 * proposals took to commit. A new leadership starts from a fresh one (nothing prepped under an
 * earlier leader is outstanding any more).
 */
export class LeaderPrep {
  private readonly preparer: Preparer;
  private readonly settler: TokenSettler;
  /** zxid → prep token (settled when the txn is applied; none for a txn not prepped) and when it was proposed. */
  private readonly tokens = new Map<bigint, { token: number | undefined; atMs: number }>();

  constructor(db: Database, opts: { maxDataBytes: number; superDigest: string | undefined }) {
    this.preparer = new Preparer(db, { maxDataBytes: opts.maxDataBytes, superDigest: opts.superDigest });
    this.settler = new TokenSettler((t) => this.preparer.settle(t));
  }

  /**
   * Turns a routed write into the txn to propose. Request errors become error txns (which are
   * ordered like any txn, so the origin answers in session order); a throw from prep is a bug,
   * answered as SYSTEMERROR and logged.
   */
  prep(w: ForwardedWrite, nowMs: number, log: Logger): { txn: Txn; token: number } {
    const p = this.preparer;
    try {
      const r = w.request;
      if (r.kind === 'op') {
        return p.prep(r.frame as never, {
          sessionId: w.sessionId,
          authIds: r.authIds,
          nowMs,
          ...(r.clientIp !== undefined ? { clientIp: r.clientIp } : {}),
        });
      }
      // The session id makes the session live from prep time (ZooKeeper's checkSession), so its
      // first requests, pipelined behind this txn, are not rejected as SESSIONEXPIRED.
      const txn =
        r.kind === 'createSession'
          ? p.createSession(r.timeoutMs, r.password, w.sessionId)
          : p.closeSession(w.sessionId);
      return { txn, token: p.lastToken };
    } catch (err) {
      log.error({ err }, 'prep failed');
      const errno = err instanceof ConclaveError ? err.errno : ErrorCode.SYSTEMERROR;
      return { txn: { type: 'error', err: errno }, token: p.lastToken };
    }
  }

  /**
   * The server's own delete of an empty container or expired TTL node (ZooKeeper's
   * ContainerManager), re-checked against outstanding changes; undefined if no longer eligible.
   */
  reap(path: string, nowMs: number): { txn: Txn; token: number } | undefined {
    const r = this.preparer.reap(path, nowMs);
    return r === undefined ? undefined : { txn: r.txn, token: r.token };
  }

  /** The txn prepped with `token` (undefined: answered without prep, e.g. SESSIONMOVED) was proposed as `zxid`. */
  proposed(zxid: bigint, token: number | undefined): void {
    this.tokens.set(zxid, { token, atMs: performance.now() });
  }

  /** The txn prepped with `token` will never be proposed. */
  abandoned(token: number): void {
    this.settler.finished(token);
  }

  /** A txn was applied here; if this leadership proposed it, settles it and returns its commit latency (ms). */
  applied(zxid: bigint): number | undefined {
    const mine = this.tokens.get(zxid);
    if (mine === undefined) return undefined;
    this.tokens.delete(zxid);
    if (mine.token !== undefined) this.settler.finished(mine.token);
    return performance.now() - mine.atMs;
  }
}
