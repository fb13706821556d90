import { BadArgumentsError, Chroot, Limits } from '@conclave/core';
import { checkSignal, toBytes } from './arguments.js';
import { ConclaveClient } from './client.js';
import { parseConnectString, shuffleMembers } from './connect-string.js';

export interface ConnectOptions {
  /** Requested session timeout; the server clamps it to its [min, max]. Default 30000. */
  sessionTimeoutMs?: number;
  /** Credentials added right after connecting (and re-sent on every reconnect). */
  auth?: { scheme: string; auth: string | Uint8Array }[];
  /** Aborts the initial connect. */
  signal?: AbortSignal;
  /**
   * Backoff between rounds over the members (jittered, p-retry). `retries` bounds the initial
   * connect only (default 5); reconnecting an established session retries until the server
   * confirms the session expired or the client is closed.
   */
  retry?: { retries?: number; minTimeoutMs?: number; maxTimeoutMs?: number };
  /** Resume an existing session (its id and password) instead of creating one. */
  session?: { id: bigint; password: Uint8Array };
  /** Largest data accepted client-side (default 1 MiB, the server's default). */
  maxDataBytes?: number;
  /** Largest frame sent or accepted (default Limits.maxFrameBytes). */
  maxFrameBytes?: number;
  /** Requests on the wire at once (default 1000); more wait in a FIFO queue. */
  maxOutstandingRequests?: number;
  /** Requests that may wait for a slot (default 10000); over it calls fail with ThrottledOpError. */
  maxQueuedRequests?: number;
}

export const DEFAULT_SESSION_TIMEOUT_MS = 30_000;

function positiveInt(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value <= 0) {
    throw new BadArgumentsError(`${name} must be a positive integer, got ${String(value)}`);
  }
  return value;
}

/**
 * Connects to a Conclave ensemble and resolves once CONNECTED (a new session, or the resumed one).
 *
 * ```ts
 * const client = await connect('127.0.0.1:2181,127.0.0.1:2182/app', { sessionTimeoutMs: 10_000 });
 * ```
 * Members are tried in random order. Rejects with ConnectionLossError when no member answered
 * within the retries, SessionExpiredError when a resumed session is gone, AuthFailedError when
 * `auth` was refused, or the signal's reason when aborted.
 */
export async function connect(connectString: string, opts: ConnectOptions = {}): Promise<ConclaveClient> {
  const parsed = parseConnectString(connectString);
  checkSignal(opts.signal);
  const sessionTimeoutMs = positiveInt('sessionTimeoutMs', opts.sessionTimeoutMs, DEFAULT_SESSION_TIMEOUT_MS);
  const maxDataBytes = positiveInt('maxDataBytes', opts.maxDataBytes, Limits.maxDataBytes);
  const maxFrameBytes = positiveInt('maxFrameBytes', opts.maxFrameBytes, Limits.maxFrameBytes);
  const retries = opts.retry?.retries ?? 5;
  if (!(retries >= 0)) throw new BadArgumentsError('retry.retries must be >= 0');
  const minTimeoutMs = opts.retry?.minTimeoutMs ?? 100;
  const maxTimeoutMs = opts.retry?.maxTimeoutMs ?? Math.max(1000, minTimeoutMs);
  if (!(minTimeoutMs >= 0) || !(maxTimeoutMs >= minTimeoutMs)) {
    throw new BadArgumentsError('retry needs 0 <= minTimeoutMs <= maxTimeoutMs');
  }
  const auth = (opts.auth ?? []).map((a) => {
    if (typeof a?.scheme !== 'string' || a.scheme.length === 0)
      throw new BadArgumentsError('auth entries need a scheme');
    return { scheme: a.scheme, auth: toBytes(a.auth, maxDataBytes, '/') };
  });
  if (opts.session !== undefined) {
    if (typeof opts.session.id !== 'bigint' || !(opts.session.password instanceof Uint8Array)) {
      throw new BadArgumentsError('session must be { id: bigint, password: Uint8Array }');
    }
  }
  const maxOutstandingRequests = positiveInt(
    'maxOutstandingRequests',
    opts.maxOutstandingRequests,
    Limits.maxOutstandingRequests,
  );
  const maxQueuedRequests = positiveInt('maxQueuedRequests', opts.maxQueuedRequests, 10_000);
  return ConclaveClient.open(
    {
      members: shuffleMembers(parsed.members),
      chroot: new Chroot(parsed.chroot ?? '/'),
      sessionTimeoutMs,
      resume: opts.session ? { sessionId: opts.session.id, password: opts.session.password } : undefined,
      auth,
      retry: { retries, minTimeoutMs, maxTimeoutMs },
      maxFrameBytes,
      maxOutstandingRequests,
      maxQueuedRequests,
      closeTimeoutMs: Math.min(5000, sessionTimeoutMs),
    },
    { maxDataBytes, maxFrameBytes },
    opts.signal,
  );
}
