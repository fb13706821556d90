import { randomBytes } from 'node:crypto';
import {
  CloseCode,
  CreateMode,
  encodeFrame,
  ErrorCode,
  Limits,
  PROTOCOL_VERSION,
  type Request,
} from '@conclave/core';
import fc from 'fast-check';
import WebSocket from 'ws';
import { describe, expect, it } from 'vitest';
import { validateConnectRequest, validateRequestFrame } from '../../src/net/validate.js';
import { create, type Frame, serverPerSuite, te, WireClient } from './wire.js';

const CONNECT = encodeFrame({
  protocolVersion: PROTOCOL_VERSION,
  lastZxidSeen: 0n,
  timeoutMs: 4000,
  sessionId: 0n,
  password: new Uint8Array(0),
  readOnly: false,
});

/** A hostile frame: random bytes, a truncated valid frame, valid CBOR of the wrong shape, or text. */
function badFrame(i: number, maxFrameBytes: number): Uint8Array | string {
  const valid = encodeFrame({ xid: i, op: 'create', path: '/x', data: new Uint8Array(8), acl: [], mode: 0 });
  switch (i % 6) {
    case 0:
      return randomBytes(1 + (i % 200));
    case 1:
      return valid.subarray(0, i % valid.length);
    case 2:
      return encodeFrame({ xid: 'one', op: 'getData', path: 7 });
    case 3:
      return encodeFrame([i, 'getData', '/x']);
    case 4:
      return i % 500 === 4
        ? new Uint8Array(maxFrameBytes + 1 + (i % 1000))
        : encodeFrame({ xid: i, op: 'nope' });
    default:
      return i % 100 === 5
        ? 'text frame'
        : encodeFrame({ xid: i, op: 'multi', ops: [{ op: 'getData', path: '/x' }] });
  }
}

function hit(url: string, frame: Uint8Array | string, handshake: boolean): Promise<number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url);
    ws.on('error', () => {});
    ws.on('open', () => {
      if (handshake) {
        ws.send(CONNECT);
        ws.once('message', () => ws.send(frame));
      } else {
        ws.send(frame);
      }
    });
    ws.on('close', (code) => resolve(code));
  });
}

describe('protocol robustness', () => {
  const maxFrameBytes = 16 * 1024;
  const srv = serverPerSuite({ fsync: false, maxFrameBytes, maxConnectionsPerIp: 10_000 });

  it('the validators reject every malformed value with a MarshallingError, never anything else', () => {
    fc.assert(
      fc.property(fc.anything({ withBigInt: true, withTypedArray: true }), (v) => {
        for (const check of [validateRequestFrame, validateConnectRequest]) {
          try {
            check(v);
          } catch (err) {
            expect((err as Error).name).toBe('MarshallingError');
          }
        }
      }),
      { numRuns: 20_000 },
    );
  });

  it('10k random, truncated, mistyped and oversized frames: each closes only its own connection', async () => {
    const good = await WireClient.session(srv.url);
    await good.request(create('/steady', 'ok'));
    const total = 10_000;
    const batch = 100;
    const codes = new Map<number, number>();
    let goodOps = 0;
    for (let start = 0; start < total; start += batch) {
      const hits: Promise<number>[] = [];
      for (let i = start; i < start + batch; i++)
        hits.push(hit(srv.url, badFrame(i, maxFrameBytes), i % 20 === 0));
      // the well-behaved client keeps working throughout
      const r = await good.request({ op: 'getData', path: '/steady', watch: false });
      expect(r.err).toBe(0);
      goodOps++;
      for (const code of await Promise.all(hits)) codes.set(code, (codes.get(code) ?? 0) + 1);
    }
    expect(goodOps).toBe(total / batch);
    const closedOk =
      (codes.get(CloseCode.MALFORMED_FRAME) ?? 0) + (codes.get(CloseCode.FRAME_TOO_LARGE) ?? 0);
    expect(closedOk).toBe(total);
    expect(codes.get(CloseCode.FRAME_TOO_LARGE) ?? 0).toBeGreaterThan(0);
    expect((await fetch(`${srv.server.adminUrl}/ruok`).then((r) => r.text())).trim()).toBe('imok');
    expect((await good.request(create('/after', 'still here'))).err).toBe(0);
    await good.closeSession();
  }, 120_000);

  it('the close reason says what was wrong', async () => {
    const x = await WireClient.open(srv.url);
    x.sendRaw(encodeFrame({ xid: 1, op: 'getData', path: '/x', watch: 'yes' }));
    const c = await x.onClose();
    expect(c.code).toBe(CloseCode.MALFORMED_FRAME);
    expect(c.reason).toMatch(/timeoutMs|connect/);
    const y = await WireClient.session(srv.url);
    y.sendRaw(encodeFrame({ xid: 1, op: 'getData', path: '/x', watch: 'yes' }));
    const d = await y.onClose();
    expect(d.code).toBe(CloseCode.MALFORMED_FRAME);
    expect(d.reason).toBe("getData: field 'watch' must be a boolean");
  });
});

/** CBOR for `depth` nested one-element arrays around 0: tiny on the wire, deep for a recursive decoder. */
function nestedArrays(depth: number): Uint8Array {
  const out = new Uint8Array(depth + 1).fill(0x81);
  out[depth] = 0x00;
  return out;
}

describe('protocol robustness after the handshake', () => {
  const maxFrameBytes = 16 * 1024;
  const srv = serverPerSuite({ fsync: false, maxFrameBytes, maxConnectionsPerIp: 1000 });
  const valid = encodeFrame({ xid: 1, op: 'create', path: '/x', data: new Uint8Array(8), acl: [], mode: 0 });
  const cases: { name: string; frame: Uint8Array | string; code: number; reason: RegExp }[] = [
    {
      name: 'truncated',
      frame: valid.subarray(0, valid.length - 3),
      code: CloseCode.MALFORMED_FRAME,
      reason: /./,
    },
    { name: 'empty', frame: new Uint8Array(0), code: CloseCode.MALFORMED_FRAME, reason: /./ },
    {
      name: 'oversized',
      frame: new Uint8Array(maxFrameBytes + 1),
      code: CloseCode.FRAME_TOO_LARGE,
      reason: new RegExp(`exceeds ${maxFrameBytes}`),
    },
    // beyond twice the limit ws itself refuses the message without buffering it
    { name: 'far oversized', frame: new Uint8Array(2 * maxFrameBytes + 1), code: 1009, reason: /^/ },
    {
      name: 'text',
      frame: 'getData /x',
      code: CloseCode.MALFORMED_FRAME,
      reason: /text frames are not accepted/,
    },
    {
      name: 'array',
      frame: encodeFrame([2, 'getData', '/x', false]),
      code: CloseCode.MALFORMED_FRAME,
      reason: /map/,
    },
    { name: 'scalar', frame: encodeFrame(42), code: CloseCode.MALFORMED_FRAME, reason: /./ },
    {
      name: 'nested 10k deep',
      frame: nestedArrays(10_000),
      code: CloseCode.MALFORMED_FRAME,
      reason: /^malformed CBOR at byte \d+: nesting deeper than 16$/,
    },
    { name: 'random bytes', frame: randomBytes(300), code: CloseCode.MALFORMED_FRAME, reason: /./ },
    {
      name: 'unknown op',
      frame: encodeFrame({ xid: 2, op: 'format-disk' }),
      code: CloseCode.MALFORMED_FRAME,
      reason: /unknown op 'format-disk'/,
    },
    {
      name: 'reserved xid',
      frame: encodeFrame({ xid: -3, op: 'getData', path: '/', watch: false }),
      code: CloseCode.MALFORMED_FRAME,
      reason: /xid -3 is reserved/,
    },
  ];

  for (const c of cases) {
    it(`a ${c.name} frame on an open session closes that connection only; the session lives on`, async () => {
      const bystander = await WireClient.session(srv.url);
      const victim = await WireClient.session(srv.url);
      expect((await victim.request({ op: 'exists', path: '/', watch: false })).err).toBe(0);
      victim.sendRaw(c.frame);
      const closed = await victim.onClose();
      expect(closed.code).toBe(c.code);
      expect(closed.reason).toMatch(c.reason);
      // A bad frame ends the connection, not the session: it can be resumed elsewhere.
      const resumed = await WireClient.session(srv.url, {
        sessionId: victim.sessionId,
        password: victim.connect!.password,
      });
      expect((await resumed.request({ op: 'exists', path: '/', watch: false })).err).toBe(0);
      expect((await bystander.request({ op: 'getChildren', path: '/', watch: false })).err).toBe(0);
      await Promise.all([resumed.closeSession(), bystander.closeSession()]);
    });
  }

  it('a stream of good and bad frames on one connection: errors are answered, a malformed frame ends it', async () => {
    const c = await WireClient.session(srv.url);
    expect((await c.request(create('/mix'))).err).toBe(0);
    // Well-formed requests that fail are answered (in order) and the connection goes on.
    const answers = await Promise.all([
      c.request(create('/mix/a')),
      c.request(create('/nope/child')),
      c.request({ op: 'getData', path: 'relative', watch: false }),
      c.request({ op: 'delete', path: '/mix', version: -1 }),
      c.request({ op: 'setData', path: '/mix/a', data: te.encode('v'), version: 7 }),
      c.request({ op: 'removeWatches', path: '/mix', type: 'data' }),
      c.request(create('/mix/b')),
    ]);
    expect(answers.map((f) => f.err)).toEqual([
      0,
      ErrorCode.NONODE,
      ErrorCode.BADARGUMENTS,
      ErrorCode.NOTEMPTY,
      ErrorCode.BADVERSION,
      ErrorCode.NOWATCHER,
      0,
    ]);
    expect(answers.map((f) => f.xid)).toEqual([...answers.map((f) => f.xid)].sort((x, y) => x - y));
    // One burst: writes, a truncated frame, more writes. Everything before the bad frame was
    // accepted (so it is applied); nothing after it is.
    const pending: Promise<Frame>[] = [];
    for (let i = 0; i < 10; i++) pending.push(c.request(create(`/mix/before${i}`)));
    c.sendRaw(valid.subarray(0, 5));
    for (let i = 0; i < 10; i++) pending.push(c.request(create(`/mix/after${i}`)));
    expect((await c.onClose()).code).toBe(CloseCode.MALFORMED_FRAME);
    await Promise.all(pending);
    const d = await WireClient.session(srv.url);
    expect((await d.request({ op: 'sync', path: '/mix' })).err).toBe(0);
    const kids = (await d.request({ op: 'getChildren', path: '/mix', watch: false })).children as string[];
    expect(kids.sort()).toEqual(['a', 'b', ...Array.from({ length: 10 }, (_, i) => `before${i}`)].sort());
    await d.closeSession();
  });
});

describe('hostile well-formed requests', () => {
  // default frame limit (1 MiB + 64 KiB): room for the large requests below
  const srv = serverPerSuite({ fsync: false, maxWatchesPerSession: 100_000 });
  const mntr = async (name: string): Promise<number> => {
    const text = await fetch(`${srv.server.adminUrl}/mntr`).then((r) => r.text());
    return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
  };
  const setWatches = (lists: Partial<Record<string, string[]>>): Request =>
    ({
      op: 'setWatches',
      relativeZxid: 0n,
      dataWatches: [],
      existWatches: [],
      childWatches: [],
      persistentWatches: [],
      persistentRecursiveWatches: [],
      ...lists,
    }) as Request;

  it('setWatches with 100k paths is served (within quota) and does not stall others', async () => {
    const c = await WireClient.session(srv.url);
    const other = await WireClient.session(srv.url);
    const paths = Array.from({ length: 100_000 }, (_, i) => `/w/${i}`);
    const started = Date.now();
    const r = await c.request(setWatches({ existWatches: paths }));
    expect(r.err).toBe(0);
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(await mntr('zk_watch_count')).toBe(100_000);
    // one more is over maxWatchesPerSession: refused, nothing registered
    expect((await c.request(setWatches({ dataWatches: ['/w/extra'] }))).err).toBe(ErrorCode.QUOTAEXCEEDED);
    expect((await other.request(create('/w'))).err).toBe(0);
    expect((await other.request(create('/w/7'))).err).toBe(0);
    await waitForEvent(c, '/w/7');
    await c.closeSession();
    expect(await mntr('zk_watch_count')).toBe(0);
    await other.closeSession();
  }, 60_000);

  it('setWatches with a path that cannot exist is refused with BADARGUMENTS', async () => {
    const c = await WireClient.session(srv.url);
    for (const bad of ['', 'relative', '/trailing/', '/a//b', '/a/./b', '/nul\u0000']) {
      const r = await c.request(setWatches({ persistentRecursiveWatches: ['/ok', bad] }));
      expect(r.err, JSON.stringify(bad)).toBe(ErrorCode.BADARGUMENTS);
    }
    expect(await mntr('zk_watch_count')).toBe(0);
    await c.closeSession();
  });

  it('multi with the most ops allowed is atomic; one op more is malformed', async () => {
    const c = await WireClient.session(srv.url);
    expect((await c.request(create('/m'))).err).toBe(0);
    const creates = Array.from({ length: Limits.maxMultiOps }, (_, i) => ({
      op: 'create' as const,
      path: `/m/${i}`,
      data: new Uint8Array(0),
      acl: [{ perms: 31, id: { scheme: 'world', id: 'anyone' } }],
      mode: 0,
    }));
    // the last op fails: none of the others may be applied
    const failing = [...creates.slice(0, -1), { ...creates[0]!, path: '/missing/parent' }];
    const bad = await c.request({ op: 'multi', ops: failing } as Request);
    expect(bad.err).toBe(ErrorCode.NONODE);
    expect((await c.request({ op: 'getAllChildrenNumber', path: '/m' })).count).toBe(0);
    const ok = await c.request({ op: 'multi', ops: creates } as Request);
    expect(ok.err).toBe(0);
    expect((await c.request({ op: 'getAllChildrenNumber', path: '/m' })).count).toBe(Limits.maxMultiOps);
    c.sendRaw(encodeFrame({ xid: 99, op: 'multi', ops: [...creates, creates[0]] }));
    const closed = await c.onClose();
    expect(closed.code).toBe(CloseCode.MALFORMED_FRAME);
    expect(closed.reason).toMatch(new RegExp(`more than ${Limits.maxMultiOps} ops`));
  }, 60_000);

  it('very deep paths: a 2048-level chain is created, watched, snapshotted and removed; too long is BADARGUMENTS', async () => {
    const c = await WireClient.session(srv.url);
    // '/d/d/…/d' up to the longest path allowed (Limits.maxPathLength, 4096 characters)
    const levels: string[] = [];
    for (let p = ''; levels.length < Limits.maxPathLength / 2; ) levels.push((p = `${p}/d`));
    const deepest = levels.at(-1)!;
    expect((await c.request({ op: 'addWatch', path: '/', mode: 'PERSISTENT_RECURSIVE' })).err).toBe(0);
    const mk = (path: string) => ({
      op: 'create' as const,
      path,
      data: new Uint8Array(0),
      acl: [{ perms: 31, id: { scheme: 'world', id: 'anyone' } }],
      mode: 0,
    });
    // in chunks: a multi of 4 KiB paths (and its response) must fit in one frame
    for (let i = 0; i < levels.length; i += 128) {
      expect((await c.request({ op: 'multi', ops: levels.slice(i, i + 128).map(mk) } as Request)).err).toBe(
        0,
      );
    }
    await waitForEvent(c, deepest);
    expect((await c.request({ op: 'getData', path: deepest, watch: true })).err).toBe(0);
    expect((await c.request({ op: 'getAllChildrenNumber', path: '/d' })).count).toBe(levels.length - 1);
    await srv.server.snapshot();
    // one level more is over Limits.maxPathLength: refused by reads, writes and watches alike
    const tooLong = `${deepest}/d`;
    expect((await c.request({ op: 'getData', path: tooLong, watch: false })).err).toBe(
      ErrorCode.BADARGUMENTS,
    );
    expect((await c.request({ op: 'exists', path: tooLong, watch: true })).err).toBe(ErrorCode.BADARGUMENTS);
    expect((await c.request(create(tooLong))).err).toBe(ErrorCode.BADARGUMENTS);
    expect(
      (await c.request(create(`${deepest.slice(0, -2)}/`, '', CreateMode.PERSISTENT_SEQUENTIAL))).err,
    ).toBe(ErrorCode.BADARGUMENTS);
    expect((await c.request({ op: 'addWatch', path: tooLong, mode: 'PERSISTENT' })).err).toBe(
      ErrorCode.BADARGUMENTS,
    );
    const deletes = [...levels].reverse().map((path) => ({ op: 'delete' as const, path, version: -1 }));
    for (let i = 0; i < deletes.length; i += 128) {
      const ops = deletes.slice(i, i + 128);
      expect((await c.request({ op: 'multi', ops } as Request)).err).toBe(0);
    }
    expect((await c.request({ op: 'exists', path: '/d', watch: false })).err).toBe(ErrorCode.NONODE);
    await c.closeSession();
  }, 60_000);
});

async function waitForEvent(c: WireClient, path: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!c.events.some((e) => e.path === path)) {
    if (Date.now() > deadline) throw new Error(`no event for ${path}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
