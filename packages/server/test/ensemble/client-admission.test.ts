import { CloseCode } from '@conclave/core';
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { useSoloMember } from './solo-member.js';

/**
 * A client socket of an ensemble member that never sends its connect request is closed after
 * maxSessionTimeoutMs, as the standalone server does (test/server/limits.test.ts): before the
 * member hands a socket to its pipeline, it holds it itself (admitClient), and nothing timed it
 * out there.
 */
describe('ensemble client admission', () => {
  const solo = useSoloMember();

  it('closes a socket that never sends its connect request after maxSessionTimeoutMs', async () => {
    const member = await solo({ server: { maxSessionTimeoutMs: 300 } });
    const ws = new WebSocket(`ws://${member.connectString}/`);
    const closed = new Promise<{ code: number; reason: string }>((resolve) =>
      ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
    );
    ws.on('error', () => {});
    const timeout = new Promise<undefined>((r) => setTimeout(() => r(undefined), 20_000).unref());
    const got = await Promise.race([closed, timeout]);
    ws.terminate();
    expect(got?.code).toBe(CloseCode.MALFORMED_FRAME);
    expect(got?.reason).toMatch(/no connect request within 300 ms/);
  }, 60_000);
});
