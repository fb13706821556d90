import type { TxnEntry } from '@conclave/core';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { parseEnsembleConfig } from '../../src/ensemble/config.js';
import type { QuorumMessage, SnapChunk } from '../../src/ensemble/messages.js';
import { SnapshotAssembler, SnapStreamError, snapshotFrames } from '../../src/ensemble/snapshot-stream.js';
import { QuorumTransport } from '../../src/ensemble/transport.js';
import type { ZabMessage } from '../../src/zab/index.js';

const log = pino({ level: 'silent' });
const MiB = 1024 * 1024;

async function waitFor(what: string, cond: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

type Snap = Extract<ZabMessage<TxnEntry>, { type: 'snap' }>;
const snapMsg = (zxid = 0x100000005n): Snap => ({
  type: 'snap',
  from: 1,
  to: 2,
  conn: 7,
  seq: 1,
  epoch: 1,
  zxid,
});
const ping = (seq: number): QuorumMessage => ({
  kind: 'zab',
  msg: { type: 'ping', from: 1, to: 2, conn: 7, seq, epoch: 1, round: seq, zxid: 0n },
});

/** `count` chunks of `bytes` each, filled so that every chunk differs. */
function image(count: number, bytes: number): Uint8Array[] {
  return Array.from({ length: count }, (_, i) => {
    const c = new Uint8Array(bytes);
    for (let k = 0; k < bytes; k += 97) c[k] = (i * 31 + k) & 0xff;
    return c;
  });
}

function frames(img: Uint8Array[], chunkBytes: number, stream = 1): QuorumMessage[] {
  return [...snapshotFrames(img, snapMsg(), stream, chunkBytes)];
}

describe('SNAP stream framing (snapshot-stream.ts)', () => {
  it('cuts chunks into bounded frames and reassembles exactly the chunks, verified', () => {
    const img = [...image(3, 700_000), new Uint8Array(0), ...image(1, 10)];
    const fs = frames(img, 256 * 1024);
    const chunks = fs.slice(0, -1) as SnapChunk[];
    for (const f of chunks) expect(f.data.length).toBeLessThanOrEqual(256 * 1024);
    // 700 000 B → 3 frames each; the empty chunk and the 10-byte one → 1 frame each.
    expect(chunks.length).toBe(3 * 3 + 2);
    const last = fs.at(-1) as Extract<QuorumMessage, { kind: 'zab' }>;
    expect(last.msg.type).toBe('snap');
    const a = new SnapshotAssembler(64 * MiB);
    for (const f of chunks) a.chunk(1, f);
    const got = a.finish(1, (last.msg as Snap).snapshot);
    expect(got.map((c) => Buffer.from(c).toString('base64'))).toEqual(
      img.map((c) => Buffer.from(c).toString('base64')),
    );
  });

  it('rejects a corrupt, incomplete, reordered or oversized stream', () => {
    const img = image(2, 100_000);
    const fs = frames(img, 30_000);
    const chunks = fs.slice(0, -1) as SnapChunk[];
    const trailer = ((fs.at(-1) as Extract<QuorumMessage, { kind: 'zab' }>).msg as Snap).snapshot;

    const corrupt = new SnapshotAssembler(64 * MiB);
    for (const [i, f] of chunks.entries()) {
      const data = i === 2 ? Uint8Array.from(f.data, (b, k) => (k === 5 ? b ^ 1 : b)) : f.data;
      corrupt.chunk(1, { ...f, data });
    }
    expect(() => corrupt.finish(1, trailer)).toThrow(/CRC-32C/);

    const missing = new SnapshotAssembler(64 * MiB);
    for (const f of chunks.slice(0, -1)) missing.chunk(1, f);
    expect(() => missing.finish(1, trailer)).toThrow(/incomplete/);

    const reordered = new SnapshotAssembler(64 * MiB);
    reordered.chunk(1, chunks[0]!);
    expect(() => reordered.chunk(1, chunks[2]!)).toThrow(SnapStreamError);

    const small = new SnapshotAssembler(150_000);
    expect(() => {
      for (const f of chunks) small.chunk(1, f);
    }).toThrow(/maxSnapshotBytes/);

    // A new stream (frame 0) replaces an abandoned one; its trailer is what counts.
    const restarted = new SnapshotAssembler(64 * MiB);
    for (const f of chunks.slice(0, 3)) restarted.chunk(1, f);
    const again = frames(img, 30_000, 2);
    for (const f of again.slice(0, -1)) restarted.chunk(1, f as SnapChunk);
    const t2 = ((again.at(-1) as Extract<QuorumMessage, { kind: 'zab' }>).msg as Snap).snapshot;
    expect(restarted.finish(1, t2).length).toBe(2);
    expect(() => restarted.finish(1, trailer)).toThrow(/not received/);
  });
});

describe('QuorumTransport.stream: bulk data paced by the socket, behind a bounded queue', () => {
  const open: QuorumTransport[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((t) => t.close()));
  });

  /** Member 2 (the dialer) sends to member 1, both with a 1 MiB queue bound. */
  async function pair(): Promise<{ t1: QuorumTransport; t2: QuorumTransport; got: QuorumMessage[] }> {
    const got: QuorumMessage[] = [];
    const t1 = new QuorumTransport({
      id: 1,
      peers: new Map([[2, { host: '127.0.0.1', port: 1 }]]),
      host: '127.0.0.1',
      port: 0,
      onMessage: (_from, m) => got.push(m),
      log,
      maxQueuedBytes: MiB,
    });
    await t1.start();
    open.push(t1);
    const t2 = new QuorumTransport({
      id: 2,
      peers: new Map([[1, { host: '127.0.0.1', port: t1.port }]]),
      host: '127.0.0.1',
      port: 0,
      onMessage: () => {},
      log,
      maxQueuedBytes: MiB,
    });
    await t2.start();
    open.push(t2);
    await waitFor('connected', () => t1.connected(2) && t2.connected(1));
    return { t1, t2, got };
  }

  it('one frame bigger than the bound makes the next send drop the link (why SNAP is streamed)', async () => {
    const { t2 } = await pair();
    t2.send(1, { kind: 'snap-chunk', stream: 1, index: 0, data: new Uint8Array(4 * MiB), last: true });
    t2.send(1, ping(1));
    expect(t2.dropped).toBe(1);
    await waitFor('link dropped', () => !t2.connected(1));
  });

  it('streams 8× the queue bound; messages sent meanwhile arrive after it, in order, nothing dropped', async () => {
    const { t1, t2, got } = await pair();
    const img = image(8, MiB);
    t2.stream(1, snapshotFrames(img, { ...snapMsg(), from: 2, to: 1 }, 1, 256 * 1024));
    for (let i = 2; i <= 11; i++) t2.send(1, ping(i));
    await waitFor('everything delivered', () => got.length >= 8 * 4 + 1 + 10);
    expect(t2.dropped).toBe(0);
    expect(t1.connected(2) && t2.connected(1)).toBe(true);
    const a = new SnapshotAssembler(64 * MiB);
    const kinds: string[] = [];
    for (const m of got) {
      if (m.kind === 'snap-chunk') a.chunk(2, m);
      else if (m.kind === 'zab' && m.msg.type === 'snap') {
        const chunks = a.finish(2, m.msg.snapshot);
        expect(chunks.every((c, i) => Buffer.from(c).equals(Buffer.from(img[i]!)))).toBe(true);
        kinds.push('snap');
      } else if (m.kind === 'zab') kinds.push(`ping${m.msg.type === 'ping' ? m.msg.seq : '?'}`);
    }
    expect(kinds).toEqual(['snap', ...Array.from({ length: 10 }, (_, i) => `ping${i + 2}`)]);
  });

  it('what waits behind a stream is bounded too: past 4× maxQueuedBytes the peer is dropped', async () => {
    const { t2 } = await pair();
    t2.stream(1, snapshotFrames(image(4, MiB), { ...snapMsg(), from: 2, to: 1 }, 1, 256 * 1024));
    for (let i = 0; i < 4 * 12; i++) {
      t2.send(1, { kind: 'snap-chunk', stream: 9, index: i, data: new Uint8Array(100_000), last: true });
    }
    expect(t2.dropped).toBeGreaterThanOrEqual(1);
    await waitFor('link dropped', () => !t2.connected(1));
  });
});

describe('QuorumTransport: streams under write load, and abandoned streams', () => {
  const open: QuorumTransport[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((t) => t.close()));
  });

  async function pair(): Promise<{ t1: QuorumTransport; t2: QuorumTransport; got: QuorumMessage[] }> {
    const got: QuorumMessage[] = [];
    const t1 = new QuorumTransport({
      id: 1,
      peers: new Map([[2, { host: '127.0.0.1', port: 1 }]]),
      host: '127.0.0.1',
      port: 0,
      onMessage: (_from, m) => got.push(m),
      log,
      maxQueuedBytes: MiB,
    });
    await t1.start();
    open.push(t1);
    const t2 = new QuorumTransport({
      id: 2,
      peers: new Map([[1, { host: '127.0.0.1', port: t1.port }]]),
      host: '127.0.0.1',
      port: 0,
      onMessage: () => {},
      log,
      maxQueuedBytes: MiB,
    });
    await t2.start();
    open.push(t2);
    await waitFor('connected', () => t1.connected(2) && t2.connected(1));
    return { t1, t2, got };
  }

  it('twice maxQueuedBytes of writes behind a SNAP wait for it instead of dropping the learner', async () => {
    const { t1, t2, got } = await pair();
    t2.stream(1, snapshotFrames(image(4, MiB), { ...snapMsg(), from: 2, to: 1 }, 1, 256 * 1024));
    // Proposals keep coming while the snapshot is on its way (sustained write load).
    for (let i = 0; i < 20; i++) {
      t2.send(1, { kind: 'snap-chunk', stream: 9, index: i, data: new Uint8Array(100_000), last: true });
    }
    await waitFor('everything delivered', () => got.length >= 4 * 4 + 1 + 20);
    expect(t2.dropped).toBe(0);
    expect(t1.connected(2) && t2.connected(1)).toBe(true);
  });

  it('cancelStreams closes an abandoned stream and drops what waits behind it; later sends go out', async () => {
    const { t2, got } = await pair();
    let produced = 0;
    let closed = false;
    // A stream that would never end on its own (a huge snapshot nobody wants any more).
    async function* endless(): AsyncGenerator<QuorumMessage> {
      try {
        for (;;) {
          yield {
            kind: 'snap-chunk',
            stream: 1,
            index: produced++,
            data: new Uint8Array(64 * 1024),
            last: false,
          };
        }
      } finally {
        closed = true;
      }
    }
    t2.stream(1, endless());
    t2.send(1, ping(1)); // queued behind the stream: stale once it is abandoned
    await waitFor('the stream flowing', () => got.length >= 8);
    expect(t2.cancelStreams(1)).toBe(1);
    t2.send(1, ping(2));
    await waitFor('the later send', () =>
      got.some((m) => m.kind === 'zab' && m.msg.type === 'ping' && m.msg.seq === 2),
    );
    await waitFor('the stream closed', () => closed);
    expect(got.some((m) => m.kind === 'zab' && m.msg.type === 'ping' && m.msg.seq === 1)).toBe(false);
    expect(t2.connected(1)).toBe(true);
    expect(t2.cancelStreams(1)).toBe(0);
  });
});

describe('quorum bounds in the ensemble file', () => {
  const members = [{ id: 1, clientPort: 2181, quorumPort: 2888 }];
  it('accepts byte limits and refuses unknown or unsafe ones with a message saying what to fix', () => {
    const quorum = { maxQueuedBytes: MiB, snapChunkBytes: 256 * 1024, maxSnapshotBytes: 8 * MiB };
    expect(parseEnsembleConfig({ members, quorum }).quorum).toEqual(quorum);
    expect(() => parseEnsembleConfig({ members, quorum: { snapChunkBytes: 10 } })).toThrow(
      /quorum.snapChunkBytes must be an integer number of bytes ≥ 1024/,
    );
    expect(() => parseEnsembleConfig({ members, quorum: { chunk: 1 } })).toThrow(/not a known setting/);
    expect(() => parseEnsembleConfig({ members, quorum: 5 })).toThrow(/"quorum" must be an object/);
  });
});
