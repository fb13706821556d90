import { CloseCode, encodeFrame } from '@conclave/core';
import { afterEach, describe, expect, it } from 'vitest';
import { type Server, startServer } from '../../src/index.js';
import { create, tempDir, te, WireClient } from './wire.js';

describe('limits', () => {
  let server: Server | undefined;
  let remove: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await server?.close();
    await remove?.();
    server = undefined;
  });

  async function start(opts: Parameters<typeof startServer>[0] extends infer O ? Partial<O> : never) {
    const t = await tempDir();
    remove = t.remove;
    server = await startServer({ dataDir: t.dir, fsync: false, ...opts });
    return `ws://${server.connectString}/`;
  }

  it('a frame over maxFrameBytes closes the connection with FRAME_TOO_LARGE', async () => {
    const url = await start({ maxFrameBytes: 4096 });
    const c = await WireClient.session(url);
    c.sendRaw(encodeFrame({ xid: 1, op: 'setData', path: '/', data: new Uint8Array(5000), version: -1 }));
    const closed = await c.onClose();
    expect(closed.code).toBe(CloseCode.FRAME_TOO_LARGE);
    expect(closed.reason).toMatch(/exceeds 4096/);
    // far beyond the limit, ws refuses the message without buffering it (1009)
    const d = await WireClient.session(url);
    d.sendRaw(new Uint8Array(64 * 1024));
    expect((await d.onClose()).code).toBe(1009);
    // others are fine
    const e = await WireClient.session(url);
    expect((await e.request(create('/fine'))).err).toBe(0);
    await e.closeSession();
  });

  it('connections over maxConnectionsPerIp are closed with TOO_MANY_CONNECTIONS', async () => {
    const url = await start({ maxConnectionsPerIp: 3 });
    const ok = await Promise.all([WireClient.session(url), WireClient.session(url), WireClient.session(url)]);
    const extra = await WireClient.open(url);
    const closed = await extra.onClose();
    expect(closed.code).toBe(CloseCode.TOO_MANY_CONNECTIONS);
    expect(closed.reason).toMatch(/too many connections from 127\.0\.0\.1 \(limit 3\)/);
    await ok[0]!.closeSession();
    // a slot frees up once a connection goes
    let again: WireClient | undefined;
    const deadline = Date.now() + 5000;
    while (again === undefined && Date.now() < deadline) {
      const c = await WireClient.open(url);
      const r = await Promise.race([c.handshake().then(() => c), c.onClose().then(() => undefined)]).catch(
        () => undefined,
      );
      again = r;
    }
    expect(again).toBeDefined();
    await Promise.all([ok[1]!.closeSession(), ok[2]!.closeSession(), again!.closeSession()]);
  });

  it('over maxOutstandingRequests the server stops reading, then answers everything in order', async () => {
    const url = await start({ maxOutstandingRequests: 8, fsync: true });
    const c = await WireClient.session(url);
    await c.request(create('/bp'));
    const n = 400;
    const all: Promise<{ err: number; xid: number }>[] = [];
    const data = te.encode('x'.repeat(4000));
    for (let i = 0; i < n; i++) all.push(c.request({ op: 'setData', path: '/bp', data, version: -1 }));
    const results = await Promise.all(all);
    expect(results.every((r) => r.err === 0)).toBe(true);
    const xids = results.map((r) => r.xid);
    expect(xids).toEqual([...xids].sort((a, b) => a - b));
    const cons = await fetch(`${server!.adminUrl}/cons`).then((r) => r.text());
    const line = cons.split('\n').find((l) => l.includes(`sid=0x${c.sessionId.toString(16)}`))!;
    const peak = Number(/peakq=(\d+)/.exec(line)![1]);
    const pauses = Number(/pauses=(\d+)/.exec(line)![1]);
    expect(pauses).toBeGreaterThan(0);
    // the queue is bounded by the limit plus what one socket read can hold (~16 frames of 4 KB)
    expect(peak).toBeLessThanOrEqual(8 + 40);
    const mntr = await fetch(`${server!.adminUrl}/mntr`).then((r) => r.text());
    expect(mntr).toMatch(/zk_backpressure_pauses [1-9]/);
    await c.closeSession();
  });

  it('a socket that never sends its connect request is closed after maxSessionTimeoutMs', async () => {
    const url = await start({ tickMs: 100, maxSessionTimeoutMs: 300 });
    const idle = await WireClient.open(url);
    const closed = await idle.onClose();
    expect(closed.code).toBe(CloseCode.MALFORMED_FRAME);
    expect(closed.reason).toMatch(/no connect request within 300 ms/);
  });

  it('a port already in use fails startServer cleanly; the data dir can be opened again', async () => {
    await start({});
    const t = await tempDir();
    const other = remove;
    remove = async () => {
      await other?.();
      await t.remove();
    };
    await expect(startServer({ dataDir: t.dir, fsync: false, port: server!.port })).rejects.toThrow(
      /EADDRINUSE/,
    );
    const again = await startServer({ dataDir: t.dir, fsync: false });
    await again.close();
  });

  it('rejects bad options with a clear message', async () => {
    const t = await tempDir();
    remove = t.remove;
    await expect(startServer({ dataDir: t.dir, tickMs: 0 })).rejects.toThrow(
      /tickMs must be a positive number/,
    );
    await expect(
      startServer({ dataDir: t.dir, minSessionTimeoutMs: 5000, maxSessionTimeoutMs: 100 }),
    ).rejects.toThrow(/exceeds maxSessionTimeoutMs/);
  });
});
