import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeFrame, encodeFrame, MarshallingError } from '../src/index.js';

describe('frame codec', () => {
  it('round-trips the shapes the protocol uses', () => {
    const frame = {
      xid: 7,
      op: 'create',
      path: '/a/b',
      data: new Uint8Array([0, 1, 255]),
      acl: [{ perms: 31, id: { scheme: 'world', id: 'anyone' } }],
      mode: 3,
      zxid: (5n << 32n) | 9n,
      sessionId: 0x0100000000000001n,
      ok: true,
      none: null,
    };
    const back = decodeFrame(encodeFrame(frame)) as typeof frame;
    expect(back).toEqual({ ...frame, data: expect.any(Uint8Array) });
    expect([...back.data]).toEqual([0, 1, 255]);
    expect(back.zxid).toBe(frame.zxid);
  });

  it('keeps bigint zxids and session ids as bigints, including 0n and the maximum', () => {
    for (const v of [0n, 1n, 2n ** 63n - 1n, -(2n ** 63n)]) {
      expect((decodeFrame(encodeFrame({ v })) as { v: bigint }).v).toBe(v);
    }
  });

  it('rejects frames over the size limit with a MarshallingError', () => {
    const bytes = encodeFrame({ data: new Uint8Array(2000) });
    expect(() => decodeFrame(bytes, { maxBytes: 1000, maxDepth: 16, maxElements: 100 })).toThrow(
      MarshallingError,
    );
  });

  it('rejects deep nesting, huge declared lengths, indefinite lengths and trailing bytes', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 40; i++) deep = [deep];
    expect(() => decodeFrame(encodeFrame(deep))).toThrow(/nesting deeper/);
    // a text string that claims 2^32 bytes
    expect(() => decodeFrame(new Uint8Array([0x7a, 0xff, 0xff, 0xff, 0xff, 0x61]))).toThrow(
      /exceeds the frame/,
    );
    // an array that claims 2^32 elements
    expect(() => decodeFrame(new Uint8Array([0x9a, 0xff, 0xff, 0xff, 0xff, 0x01]))).toThrow(MarshallingError);
    expect(() => decodeFrame(new Uint8Array([0x9f, 0x01, 0xff]))).toThrow(/indefinite/);
    expect(() => decodeFrame(new Uint8Array([0x01, 0x02]))).toThrow(/trailing/);
    expect(() => decodeFrame(new Uint8Array([]))).toThrow(/empty/);
  });

  it('never throws anything but MarshallingError on random or truncated bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), (bytes) => {
        try {
          decodeFrame(bytes);
        } catch (err) {
          expect(err).toBeInstanceOf(MarshallingError);
        }
      }),
      { numRuns: 5000 },
    );
    const valid = encodeFrame({
      xid: 1,
      op: 'getData',
      path: '/x',
      watch: false,
      nested: [1, [2, { a: 'b' }]],
    });
    for (let cut = 0; cut < valid.length; cut++) {
      expect(() => decodeFrame(valid.subarray(0, cut))).toThrow(MarshallingError);
    }
  });
});
