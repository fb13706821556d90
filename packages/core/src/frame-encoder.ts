/**
 * A fast path for encoding frames: the value domain the protocol and the log actually use (plain
 * objects, arrays, strings, numbers, bigints, booleans, null, undefined, Uint8Array/Buffer) written
 * straight into a reused buffer, producing exactly the bytes the cbor-x Encoder configured in
 * codec.ts produces (test/frame-encoder.test.ts checks this on random values). Anything outside
 * that domain returns `undefined` and the caller falls back to cbor-x.
 *
 * Why: every request, response and log record is encoded once or twice per operation, and cbor-x's
 * generic path costs about twice as much CPU as this one: it allocates Object.keys/Object.values
 * arrays per map, three temporary bigints per bigint (`BigInt(1) << BigInt(64)` bounds), and walks
 * its extension list with `instanceof` for every Uint8Array.
 *
 * Output rules (cbor-x's, with useRecords/pack off, variableMapSize on, tagUint8Array off):
 * - number: a 32-bit unsigned integer → major 0, smallest form; a 32-bit signed negative integer →
 *   major 1, smallest form; an integer in [-2^32, -2^31) → major 1 with a 4-byte argument;
 *   anything else (fractions, larger integers such as millisecond timestamps, NaN) → float64.
 * - bigint in [0, 2^64) → major 0 with an 8-byte argument, in (-2^64, 0) → major 1 with an 8-byte
 *   argument, always 8 bytes, so it decodes back as a bigint; larger ones fall back (bignum tags).
 * - string: UTF-8, smallest header. Strings under 64 UTF-16 units are transcoded by hand (a lone
 *   surrogate becomes its 3-byte form, as cbor-x does), longer ones by Buffer#write (as cbor-x's
 *   utf8Write: a lone surrogate becomes U+FFFD).
 * - plain object → map of its own enumerable string keys, in property order; array → array;
 *   Uint8Array (and Buffer) → byte string; null, undefined, true, false → simple values.
 */

// As cbor-x: a frame kept alive (queued for a slow socket, say) pins at most this much with it.
const MIN_BUFFER_BYTES = 8192;
/** Start a fresh buffer rather than begin a frame with less than this left (as cbor-x: 2 KiB). */
const MIN_ROOM_BYTES = 2048;
const TWO_64 = 1n << 64n;

/** Returned by the writers for a value outside the fast path's domain. */
class Unsupported {}
const UNSUPPORTED = new Unsupported();

/**
 * The output buffer. Frames handed out are subarrays of it and are never overwritten: each frame
 * starts where the previous one ended, and a new buffer is taken when this one runs out.
 */
let buf: Buffer = Buffer.allocUnsafeSlow(MIN_BUFFER_BYTES);
let view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
let pos = 0;
/** Where the frame being written starts in `buf` (moves when the buffer is replaced mid-frame). */
let start = 0;

/** Makes room for `bytes` more bytes, moving the frame written so far into a bigger buffer if needed. */
function ensure(bytes: number): void {
  if (pos + bytes <= buf.length) return;
  const used = pos - start;
  let size = Math.max(MIN_BUFFER_BYTES, buf.length);
  while (size < used + bytes + MIN_ROOM_BYTES) size *= 2;
  const next = Buffer.allocUnsafeSlow(size);
  buf.copy(next, 0, start, pos);
  buf = next;
  view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  start = 0;
  pos = used;
}

/**
 * Encodes `value`, or returns undefined when it holds something outside the fast path's domain
 * (the caller then uses cbor-x). Throws what a pathological value throws (e.g. RangeError on a
 * cyclic structure), as cbor-x would.
 */
export function fastEncode(value: unknown): Buffer | undefined {
  if (buf.length - pos < MIN_ROOM_BYTES) {
    buf = Buffer.allocUnsafeSlow(Math.max(MIN_BUFFER_BYTES, buf.length));
    view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    pos = 0;
  }
  start = pos;
  try {
    writeValue(value);
  } catch (err) {
    pos = start;
    if (err === UNSUPPORTED) return undefined;
    throw err;
  }
  return buf.subarray(start, pos);
}

/** Writes a major type with its argument in the smallest form (below 2^32); the caller ensured 5 bytes. */
function writeHead(major: number, arg: number): void {
  if (arg < 0x18) {
    buf[pos++] = major | arg;
  } else if (arg < 0x100) {
    buf[pos++] = major | 0x18;
    buf[pos++] = arg;
  } else if (arg < 0x10000) {
    buf[pos++] = major | 0x19;
    buf[pos++] = arg >> 8;
    buf[pos++] = arg & 0xff;
  } else {
    buf[pos++] = major | 0x1a;
    view.setUint32(pos, arg);
    pos += 4;
  }
}

function writeValue(value: unknown): void {
  switch (typeof value) {
    case 'string':
      writeString(value);
      return;
    case 'number':
      writeNumber(value);
      return;
    case 'bigint':
      ensure(9);
      if (value >= 0n && value < TWO_64) {
        buf[pos++] = 0x1b;
        view.setBigUint64(pos, value);
      } else if (value < 0n && value > -TWO_64) {
        buf[pos++] = 0x3b;
        view.setBigUint64(pos, -value - 1n);
      } else {
        throw UNSUPPORTED;
      }
      pos += 8;
      return;
    case 'boolean':
      ensure(1);
      buf[pos++] = value ? 0xf5 : 0xf4;
      return;
    case 'undefined':
      ensure(1);
      buf[pos++] = 0xf7;
      return;
    case 'object':
      if (value === null) {
        ensure(1);
        buf[pos++] = 0xf6;
        return;
      }
      writeObject(value);
      return;
    default:
      throw UNSUPPORTED;
  }
}

function writeObject(value: object): void {
  const kind = value.constructor;
  if (kind === Object) {
    const record = value as Record<string, unknown>;
    const keys = Object.keys(record);
    const count = keys.length;
    ensure(5);
    writeHead(0xa0, count);
    for (let i = 0; i < count; i++) {
      const key = keys[i]!;
      writeString(key);
      writeValue(record[key]);
    }
    return;
  }
  if (kind === Array) {
    const array = value as unknown[];
    const length = array.length;
    ensure(5);
    writeHead(0x80, length);
    for (let i = 0; i < length; i++) writeValue(array[i]);
    return;
  }
  if (value instanceof Uint8Array) {
    const length = value.byteLength;
    ensure(5 + length);
    writeHead(0x40, length);
    buf.set(value, pos);
    pos += length;
    return;
  }
  throw UNSUPPORTED;
}

function writeNumber(value: number): void {
  ensure(9);
  if (value >>> 0 === value) {
    writeHead(0x00, value);
  } else if (value >> 0 === value) {
    // A negative 32-bit integer: CBOR stores -1 - value.
    writeHead(0x20, ~value >>> 0);
  } else if (value < 0 && value >= -0x100000000 && Math.floor(value) === value) {
    buf[pos++] = 0x3a;
    view.setUint32(pos, -1 - value);
    pos += 4;
  } else {
    buf[pos++] = 0xfb;
    view.setFloat64(pos, value);
    pos += 8;
  }
}

function writeString(value: string): void {
  const chars = value.length;
  // Reserve the header cbor-x would guess from the UTF-16 length; move the bytes if it was short.
  const guess = chars < 0x20 ? 1 : chars < 0x100 ? 2 : chars < 0x10000 ? 3 : 5;
  ensure(guess + chars * 3 + 4);
  const at = pos + guess;
  let end = at;
  if (chars < 0x40) {
    for (let i = 0; i < chars; i++) {
      let c1 = value.charCodeAt(i);
      if (c1 < 0x80) {
        buf[end++] = c1;
      } else if (c1 < 0x800) {
        buf[end++] = (c1 >> 6) | 0xc0;
        buf[end++] = (c1 & 0x3f) | 0x80;
      } else {
        const c2 = value.charCodeAt(i + 1);
        if ((c1 & 0xfc00) === 0xd800 && (c2 & 0xfc00) === 0xdc00) {
          c1 = 0x10000 + ((c1 & 0x03ff) << 10) + (c2 & 0x03ff);
          i++;
          buf[end++] = (c1 >> 18) | 0xf0;
          buf[end++] = ((c1 >> 12) & 0x3f) | 0x80;
          buf[end++] = ((c1 >> 6) & 0x3f) | 0x80;
          buf[end++] = (c1 & 0x3f) | 0x80;
        } else {
          buf[end++] = (c1 >> 12) | 0xe0;
          buf[end++] = ((c1 >> 6) & 0x3f) | 0x80;
          buf[end++] = (c1 & 0x3f) | 0x80;
        }
      }
    }
  } else {
    end = at + buf.write(value, at, chars * 3, 'utf8');
  }
  const length = end - at;
  const header = length < 0x18 ? 1 : length < 0x100 ? 2 : length < 0x10000 ? 3 : 5;
  if (header !== guess) buf.copyWithin(pos + header, at, end);
  writeHead(0x60, length);
  pos += length;
}
