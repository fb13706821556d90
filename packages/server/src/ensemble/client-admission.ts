import { CloseCode, DEFAULT_DECODE_LIMITS, decodeFrame } from '@conclave/core';
import type { RawData, WebSocket } from 'ws';

/** What {@link admitClient} needs from the member. */
export interface Admission {
  /** Largest frame a client may send (the pipeline's bound; a bigger first frame is its to refuse). */
  maxFrameBytes: number;
  /** Frames a client may send before its connect request is handled (the pipeline's bound too). */
  maxEarlyFrames: number;
  /** Does this member's database hold the session (created, not closed)? */
  knows: (sessionId: bigint) => boolean;
  /**
   * Syncs with the leader: resolves true once every txn committed before the sync reached the
   * leader is applied here, false if this member stopped serving meanwhile.
   */
  sync: () => Promise<boolean>;
  /** Hands the socket to the current serving period's pipeline (false: no longer serving). */
  accept: () => boolean;
  /**
   * A socket that sends no frame within this long is closed (the pipeline's handshake timeout,
   * maxSessionTimeoutMs: it arms its own only once it has the socket).
   */
  handshakeTimeoutMs: number;
  /**
   * Sockets not handed to a pipeline yet: admitClient adds each one and removes it once handed
   * over or closed, so the member can close them when it stops serving.
   */
  pending: Set<WebSocket>;
}

/**
 * Admits a client connection to the pipeline. A connect request that resumes a session this member
 * does not know yet would be refused as expired although the session is live: it was created
 * through another member moments ago, and this member has not applied that createSession yet (the
 * client's lastZxidSeen does not cover it, so SERVER_BEHIND does not catch it). ZooKeeper's learner
 * revalidates such a session with its leader; here the member syncs with the leader first — after
 * a sync it has applied everything committed before, the createSession included — and then lets
 * the pipeline handle the request. A session still unknown after the sync really is gone. Frames
 * that arrive meanwhile are kept, in order, and replayed to the pipeline.
 */
export function admitClient(ws: WebSocket, a: Admission): void {
  const held: [RawData, boolean][] = [];
  let waiting = false;
  a.pending.add(ws);
  const timer = setTimeout(() => {
    if (held.length === 0)
      ws.close(CloseCode.MALFORMED_FRAME, `no connect request within ${a.handshakeTimeoutMs} ms`);
  }, a.handshakeTimeoutMs);
  timer.unref();
  const settle = () => {
    clearTimeout(timer);
    a.pending.delete(ws);
  };
  ws.once('close', settle);
  const onMessage = (data: RawData, isBinary: boolean) => {
    clearTimeout(timer);
    if (waiting) {
      if (held.length >= a.maxEarlyFrames) {
        ws.close(CloseCode.MALFORMED_FRAME, 'too many requests before the connect response');
        return;
      }
      held.push([data, isBinary]);
      return;
    }
    const sessionId = resumedSession(data, isBinary, a.maxFrameBytes);
    held.push([data, isBinary]);
    if (sessionId === undefined || a.knows(sessionId)) {
      handOver();
      return;
    }
    waiting = true;
    void a.sync().then((synced) => {
      if (synced) handOver();
      else ws.close(CloseCode.NOT_SERVING, 'this member stopped serving; reconnect');
    });
  };
  const handOver = () => {
    settle();
    ws.off('close', settle);
    ws.off('message', onMessage);
    if (ws.readyState !== ws.OPEN) return;
    if (!a.accept()) {
      ws.close(CloseCode.NOT_SERVING, 'this member stopped serving; reconnect');
      return;
    }
    for (const [data, isBinary] of held) ws.emit('message', data, isBinary);
  };
  ws.on('message', onMessage);
}

/** The session id a connect request resumes; undefined for a new session or anything else. */
function resumedSession(data: RawData, isBinary: boolean, maxFrameBytes: number): bigint | undefined {
  if (!isBinary) return undefined;
  const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
  if (bytes.length > maxFrameBytes) return undefined;
  try {
    const v = decodeFrame(bytes, { ...DEFAULT_DECODE_LIMITS, maxBytes: maxFrameBytes }) as {
      sessionId?: unknown;
    };
    return typeof v === 'object' && v !== null && typeof v.sessionId === 'bigint' && v.sessionId !== 0n
      ? v.sessionId
      : undefined;
  } catch {
    return undefined;
  }
}
