import { Encoder } from 'cbor-x';
import { MarshallingError } from './errors.js';
import { fastEncode } from './frame-encoder.js';
import { Limits } from './limits.js';

/**
 * CBOR framing shared by the wire protocol and the transaction log.
 *
 * Decoding untrusted bytes is split in two: a structural pre-scan that walks the CBOR headers
 * with explicit bounds (size, depth, element counts, lengths that fit in what remains), and only
 * then cbor-x, which is fast but not built to face hostile input. Anything malformed becomes a
 * MarshallingError; nothing a peer sends can make us allocate without bound, recurse without
 * bound, or hang.
 */

export interface DecodeLimits {
  maxBytes: number;
  maxDepth: number;
  maxElements: number;
}

export const DEFAULT_DECODE_LIMITS: DecodeLimits = {
  maxBytes: Limits.maxFrameBytes,
  maxDepth: Limits.maxDecodeDepth,
  maxElements: Limits.maxDecodeElements,
};

/**
 * Plain CBOR (no cbor-x records or tags for byte arrays) so any CBOR tool can read a frame. The fast
 * encoder (frame-encoder.ts) must produce exactly what cbor-x does with these options; its test
 * builds its reference from this same object. @internal
 */
export const CBOR_ENCODER_OPTIONS = {
  useRecords: false,
  mapsAsObjects: true,
  tagUint8Array: false,
  pack: false,
  variableMapSize: true,
  useTimestamp32: false,
} as ConstructorParameters<typeof Encoder>[0];

const encoder = new Encoder(CBOR_ENCODER_OPTIONS);

/** Encodes a value (objects, arrays, strings, numbers, bigints, booleans, null, Uint8Array). */
export function encodeFrame(value: unknown): Uint8Array {
  try {
    // The fast path writes the same bytes as `encoder` for every value it accepts (see
    // frame-encoder.ts); cbor-x handles the rest.
    return fastEncode(value) ?? encoder.encode(value);
  } catch (err) {
    throw new MarshallingError(`cannot encode frame: ${(err as Error).message}`, undefined, { cause: err });
  }
}

/** Decodes one complete CBOR item, enforcing `limits`; throws MarshallingError on anything malformed. */
export function decodeFrame(bytes: Uint8Array, limits: DecodeLimits = DEFAULT_DECODE_LIMITS): unknown {
  if (bytes.length === 0) throw new MarshallingError('empty frame');
  if (bytes.length > limits.maxBytes) {
    throw new MarshallingError(
      `frame of ${bytes.length} bytes exceeds the limit of ${limits.maxBytes} bytes`,
    );
  }
  const end = scanFrame(bytes, limits);
  if (end !== bytes.length) {
    throw new MarshallingError(`frame has ${bytes.length - end} trailing bytes after the CBOR item`);
  }
  try {
    return encoder.decode(bytes);
  } catch (err) {
    throw new MarshallingError(`cannot decode frame: ${(err as Error).message}`, undefined, { cause: err });
  }
}

function fail(offset: number, what: string): never {
  throw new MarshallingError(`malformed CBOR at byte ${offset}: ${what}`);
}

// The pre-scan runs on every frame both ways (requests on the server, responses on the client), so
// it allocates nothing per item: the argument just read and the element count live in these
// module-level slots instead of a returned tuple and a counter object (one scan runs at a time:
// it is synchronous and never re-entered).
let scanArg = 0;
let scanElements = 0;

/** Reads the CBOR argument after the initial byte into `scanArg`; returns the offset after it. */
function readArgument(bytes: Uint8Array, offset: number, info: number): number {
  if (info < 24) {
    scanArg = info;
    return offset;
  }
  const need = info === 24 ? 1 : info === 25 ? 2 : info === 26 ? 4 : info === 27 ? 8 : -1;
  if (need < 0)
    fail(offset, info === 31 ? 'indefinite lengths are not accepted' : `reserved additional info ${info}`);
  if (offset + need > bytes.length) fail(offset, 'truncated header');
  let value = 0;
  for (let i = 0; i < need; i++) value = value * 256 + bytes[offset + i]!;
  scanArg = value;
  return offset + need;
}

/** Scans the item at offset 0 (with a fresh element count); returns the offset just past it. */
function scanFrame(bytes: Uint8Array, limits: DecodeLimits): number {
  scanElements = 0;
  return scanItem(bytes, 0, 0, limits);
}

/** Returns the offset just past the item that starts at `offset`. */
function scanItem(bytes: Uint8Array, offset: number, depth: number, limits: DecodeLimits): number {
  if (depth > limits.maxDepth) fail(offset, `nesting deeper than ${limits.maxDepth}`);
  if (offset >= bytes.length) fail(offset, 'truncated item');
  const initial = bytes[offset]!;
  const major = initial >> 5;
  const info = initial & 31;
  const next = readArgument(bytes, offset + 1, info);
  const arg = scanArg;
  switch (major) {
    case 0: // unsigned int
    case 1: // negative int
      return next;
    case 2: // byte string
    case 3: {
      // text string
      if (arg > bytes.length - next) fail(offset, `string length ${arg} exceeds the frame`);
      return next + arg;
    }
    case 4: {
      // array
      if (arg > bytes.length - next) fail(offset, `array length ${arg} exceeds the frame`);
      scanElements += arg;
      if (scanElements > limits.maxElements) fail(offset, `more than ${limits.maxElements} elements`);
      let at = next;
      for (let i = 0; i < arg; i++) at = scanItem(bytes, at, depth + 1, limits);
      return at;
    }
    case 5: {
      // map
      if (arg * 2 > bytes.length - next) fail(offset, `map size ${arg} exceeds the frame`);
      scanElements += arg * 2;
      if (scanElements > limits.maxElements) fail(offset, `more than ${limits.maxElements} elements`);
      let at = next;
      for (let i = 0; i < arg * 2; i++) at = scanItem(bytes, at, depth + 1, limits);
      return at;
    }
    case 6: {
      // tag: only the bignum tags are used by our encoder
      if (arg !== 2 && arg !== 3) fail(offset, `unsupported tag ${arg}`);
      return scanItem(bytes, next, depth + 1, limits);
    }
    default: {
      // major 7: simple values and floats; the argument already consumed the float bytes
      if (info === 31) fail(offset, 'unexpected break');
      return next;
    }
  }
}
