import { Encoder } from 'cbor-x';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fastEncode } from '../src/frame-encoder.js';
import { CBOR_ENCODER_OPTIONS } from '../src/codec.js';
import { decodeFrame, encodeFrame } from '../src/index.js';

// The reference: the cbor-x configuration codec.ts used before the fast path (and still falls back to).
const reference = new Encoder(CBOR_ENCODER_OPTIONS);

const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

/** Values of the fast path's domain, with the edge cases of each rule over-represented. */
const numbers = fc.oneof(
  fc.integer(),
  fc.constantFrom(
    0,
    -0,
    23,
    24,
    255,
    256,
    65535,
    65536,
    2 ** 32 - 1,
    2 ** 32,
    -1,
    -24,
    -25,
    -256,
    -257,
    -65536,
    -65537,
    -(2 ** 31),
    -(2 ** 31) - 1,
    -(2 ** 32),
    -(2 ** 32) - 1,
    2 ** 53,
    1.5,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    Number.NEGATIVE_INFINITY,
    1_795_724_261_425,
  ),
  fc.double(),
  fc.integer({ min: -(2 ** 32) - 5, max: 2 ** 32 + 5 }),
);
const bigints = fc.oneof(
  fc.bigInt({ min: -(2n ** 64n) + 1n, max: 2n ** 64n - 1n }),
  fc.constantFrom(0n, 1n, -1n, 2n ** 63n - 1n, 2n ** 64n - 1n, -(2n ** 64n) + 1n),
);
const strings = fc.oneof(
  fc.string({ maxLength: 80 }),
  fc.string({ unit: 'grapheme', maxLength: 80 }),
  fc.string({ unit: 'binary', maxLength: 300 }), // lone surrogates included
  fc.constantFrom(
    '',
    'x'.repeat(23),
    'x'.repeat(24),
    'é'.repeat(20),
    '€'.repeat(63),
    '€'.repeat(64),
    'a'.repeat(70000),
  ),
);
const bytes = fc.oneof(
  fc.uint8Array({ maxLength: 300 }),
  fc.constantFrom(new Uint8Array(0), new Uint8Array(23), new Uint8Array(24), new Uint8Array(70_000)),
  fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)),
);
const { value } = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    numbers,
    bigints,
    strings,
    bytes,
    fc.constantFrom(null, undefined, true, false),
    fc.array(tie('value'), { maxLength: 30 }),
    fc.dictionary(strings, tie('value'), { maxKeys: 30, noNullPrototype: true }),
  ),
}));

describe('fast frame encoder', () => {
  it('writes exactly the bytes of the cbor-x encoder it replaces', () => {
    fc.assert(
      fc.property(value, (v) => {
        const fast = fastEncode(v);
        expect(fast).toBeDefined();
        expect(hex(fast!)).toBe(hex(reference.encode(v)));
      }),
      { numRuns: 2000 },
    );
  });

  it('leaves frames it handed out intact while later frames are written, also across buffer growth', () => {
    const frames: [Uint8Array, string][] = [];
    for (let i = 0; i < 3000; i++) {
      const v = { i, data: new Uint8Array(i % 7 === 0 ? 40_000 : 300).fill(i & 0xff), path: `/n/${i}` };
      const f = encodeFrame(v);
      frames.push([f, hex(reference.encode(v))]);
    }
    for (const [f, expected] of frames) expect(hex(f)).toBe(expected);
  });

  it('hands what it does not cover to cbor-x, which encodes it as before', () => {
    const outside = [
      { big: 2n ** 64n },
      { big: -(2n ** 64n) },
      { when: new Date(0) },
      { set: new Set([1]) },
      { map: new Map([['a', 1]]) },
      { words: new Uint16Array([1, 2]) },
      Object.assign(Object.create(null), { a: 1 }),
    ];
    for (const v of outside) {
      expect(fastEncode(v)).toBeUndefined();
      expect(hex(encodeFrame(v))).toBe(hex(reference.encode(v)));
    }
    // A frame that fell back leaves the fast path's buffer ready for the next one.
    const after = { xid: 1, zxid: 5n };
    expect(hex(encodeFrame(after))).toBe(hex(reference.encode(after)));
    expect(decodeFrame(encodeFrame(after))).toEqual(after);
  });
});
