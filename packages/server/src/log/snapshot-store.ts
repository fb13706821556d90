import { join } from 'node:path';
import { crc32c } from './crc32c.js';
import { StorageCorruptionError } from './errors.js';
import { type StorageFs, fsyncDir, unlinkIfExists, writeFully } from './file-system.js';
import { TEMP_SUFFIX } from './atomic-file.js';

/**
 * Snapshot files `snapshot.<zxid hex>`: an opaque state image (the datatree's chunks) at a zxid.
 *
 * Layout (little-endian):
 * - header (32): `"CNCLSNAP"` | version u32 | reserved u32 | zxid u64 | reserved u64
 * - frames: `[u32 length][chunk bytes]` per non-empty chunk, so the reader hands the codec the
 *   same chunk boundaries the writer was given
 * - trailer (32): 0xFFFFFFFF u32 | reserved u32 | zxid u64 | frame bytes u64 | chunk count u32 |
 *   crc32c u32 of every byte before it
 *
 * A snapshot is valid only with its trailer: a crash while writing leaves a temp file (never
 * renamed), and a file cut short has no trailer, so either is skipped in favour of an older one.
 */
export const SNAPSHOT_HEADER_BYTES = 32;
export const SNAPSHOT_TRAILER_BYTES = 32;
export const SNAPSHOT_VERSION = 1;
const MAGIC = new TextEncoder().encode('CNCLSNAP');
const TRAILER_MARKER = 0xffffffff;
const NAME = /^snapshot\.([0-9a-f]{1,16})$/;
const IO_BLOCK_BYTES = 1024 * 1024;

/** Largest chunk accepted (and believed when reading, so a corrupt length cannot allocate 4 GiB). */
export const DEFAULT_MAX_SNAPSHOT_CHUNK_BYTES = 256 * 1024 * 1024;

export interface SnapshotRef {
  zxid: bigint;
  path: string;
}

export function snapshotFileName(zxid: bigint): string {
  return `snapshot.${zxid.toString(16)}`;
}

export function parseSnapshotFileName(name: string): bigint | undefined {
  const match = NAME.exec(name);
  return match ? BigInt(`0x${match[1]}`) : undefined;
}

export class SnapshotStore {
  constructor(
    private readonly dir: string,
    private readonly io: StorageFs,
    private readonly fsync: boolean,
    private readonly maxChunkBytes = DEFAULT_MAX_SNAPSHOT_CHUNK_BYTES,
  ) {}

  /** Snapshot files present, newest first (validity not checked). */
  async list(): Promise<SnapshotRef[]> {
    const refs: SnapshotRef[] = [];
    for (const name of await this.io.readdir(this.dir)) {
      const zxid = parseSnapshotFileName(name);
      if (zxid !== undefined) refs.push({ zxid, path: join(this.dir, name) });
    }
    return refs.sort((a, b) => (a.zxid > b.zxid ? -1 : a.zxid < b.zxid ? 1 : 0));
  }

  /**
   * Writes the snapshot at `zxid` streamed from `chunks` (never holding the whole image): temp
   * file, fsync, rename, directory fsync. Replaces an existing snapshot of the same zxid.
   */
  async write(zxid: bigint, chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array>): Promise<SnapshotRef> {
    const path = join(this.dir, snapshotFileName(zxid));
    const temp = path + TEMP_SUFFIX;
    const fd = await this.io.open(temp, 'w');
    try {
      const out = new BlockWriter(this.io, fd);
      const header = new Uint8Array(SNAPSHOT_HEADER_BYTES);
      const hv = new DataView(header.buffer);
      header.set(MAGIC, 0);
      hv.setUint32(8, SNAPSHOT_VERSION, true);
      hv.setBigUint64(16, zxid, true);
      await out.put(header);
      let frameBytes = 0;
      let count = 0;
      const prefix = new Uint8Array(4);
      const pv = new DataView(prefix.buffer);
      for await (const chunk of chunks) {
        if (chunk.length === 0) continue;
        if (chunk.length > this.maxChunkBytes) {
          throw new Error(
            `invariant: a snapshot chunk of ${chunk.length} bytes exceeds ${this.maxChunkBytes}`,
          );
        }
        pv.setUint32(0, chunk.length, true);
        await out.put(prefix);
        await out.put(chunk);
        frameBytes += 4 + chunk.length;
        count++;
      }
      const trailer = new Uint8Array(SNAPSHOT_TRAILER_BYTES);
      const tv = new DataView(trailer.buffer);
      tv.setUint32(0, TRAILER_MARKER, true);
      tv.setBigUint64(8, zxid, true);
      tv.setBigUint64(16, BigInt(frameBytes), true);
      tv.setUint32(24, count, true);
      const crc = crc32c(trailer, out.crc, 0, 28);
      tv.setUint32(28, crc, true);
      await out.put(trailer);
      await out.flush();
      if (this.fsync) await this.io.fsync(fd);
    } catch (err) {
      await this.io.close(fd).catch(() => {});
      await unlinkIfExists(this.io, temp).catch(() => {});
      throw err;
    }
    await this.io.close(fd);
    await this.io.rename(temp, path);
    if (this.fsync) await fsyncDir(this.io, this.dir);
    return { zxid, path };
  }

  /** Why the snapshot's header or trailer is unusable (cheap: reads 64 bytes), or undefined. */
  async trailerProblem(ref: SnapshotRef): Promise<string | undefined> {
    const fd = await this.io.open(ref.path, 'r');
    try {
      return (await this.readFrame(fd, ref)).problem;
    } finally {
      await this.io.close(fd);
    }
  }

  /**
   * The snapshot's chunks, in order. Throws StorageCorruptionError (naming the file and offset) on
   * a bad header or trailer before yielding anything, and on a CRC mismatch after the last chunk:
   * a consumer must discard what it built when iteration throws.
   */
  async *read(ref: SnapshotRef): AsyncGenerator<Uint8Array> {
    const fd = await this.io.open(ref.path, 'r');
    try {
      const frame = await this.readFrame(fd, ref);
      if (frame.problem) throw new StorageCorruptionError(ref.path, frame.problemOffset, frame.problem);
      const reader = new BlockReader(this.io, fd, SNAPSHOT_HEADER_BYTES, frame.frameEnd);
      let crc = crc32c(frame.header);
      let count = 0;
      while (reader.position < frame.frameEnd) {
        const at = reader.position;
        const prefix = await reader.take(4);
        if (!prefix) throw new StorageCorruptionError(ref.path, at, 'a chunk length runs past the trailer');
        crc = crc32c(prefix, crc);
        const length = new DataView(prefix.buffer, prefix.byteOffset, 4).getUint32(0, true);
        if (length === 0 || length > this.maxChunkBytes) {
          throw new StorageCorruptionError(ref.path, at, `implausible chunk length ${length}`);
        }
        const chunk = await reader.take(length);
        if (!chunk)
          throw new StorageCorruptionError(ref.path, at, `a chunk of ${length} bytes runs past the trailer`);
        crc = crc32c(chunk, crc);
        count++;
        yield chunk;
      }
      crc = crc32c(frame.trailer, crc, 0, 28);
      if (crc !== frame.storedCrc) {
        throw new StorageCorruptionError(
          ref.path,
          frame.frameEnd + 28,
          'the snapshot CRC does not match its content',
        );
      }
      if (count !== frame.chunkCount) {
        throw new StorageCorruptionError(
          ref.path,
          frame.frameEnd + 24,
          `the trailer says ${frame.chunkCount} chunks, found ${count}`,
        );
      }
    } finally {
      await this.io.close(fd);
    }
  }

  /** Reads the whole snapshot to check it; returns the problem or undefined when it is valid. */
  async verify(ref: SnapshotRef): Promise<string | undefined> {
    try {
      for await (const _ of this.read(ref)) {
        // reading is the check
      }
      return undefined;
    } catch (err) {
      if (err instanceof StorageCorruptionError) return `${err.reason} (at byte ${err.offset})`;
      throw err;
    }
  }

  async delete(ref: SnapshotRef): Promise<void> {
    await unlinkIfExists(this.io, ref.path);
  }

  async syncDir(): Promise<void> {
    if (this.fsync) await fsyncDir(this.io, this.dir);
  }

  private async readFrame(
    fd: number,
    ref: SnapshotRef,
  ): Promise<{
    problem: string | undefined;
    problemOffset: number;
    header: Uint8Array;
    trailer: Uint8Array;
    frameEnd: number;
    chunkCount: number;
    storedCrc: number;
  }> {
    const size = await this.io.fileSize(fd);
    const header = new Uint8Array(SNAPSHOT_HEADER_BYTES);
    const trailer = new Uint8Array(SNAPSHOT_TRAILER_BYTES);
    const frameEnd = size - SNAPSHOT_TRAILER_BYTES;
    const result = {
      problem: undefined as string | undefined,
      problemOffset: 0,
      header,
      trailer,
      frameEnd,
      chunkCount: 0,
      storedCrc: 0,
    };
    if (size < SNAPSHOT_HEADER_BYTES + SNAPSHOT_TRAILER_BYTES) {
      result.problem = `the file has ${size} bytes, too short for a snapshot (written only in part?)`;
      return result;
    }
    await readFully(this.io, fd, header, 0);
    await readFully(this.io, fd, trailer, frameEnd);
    const hv = new DataView(header.buffer);
    const tv = new DataView(trailer.buffer);
    for (let i = 0; i < MAGIC.length; i++) {
      if (header[i] !== MAGIC[i]) {
        result.problem = 'the file does not start with the snapshot magic';
        return result;
      }
    }
    if (hv.getUint32(8, true) !== SNAPSHOT_VERSION) {
      result.problem = `unsupported snapshot version ${hv.getUint32(8, true)}`;
      return result;
    }
    if (hv.getBigUint64(16, true) !== ref.zxid) {
      result.problem = 'the header zxid does not match the file name';
      result.problemOffset = 16;
      return result;
    }
    result.problemOffset = frameEnd;
    if (tv.getUint32(0, true) !== TRAILER_MARKER) {
      result.problem = 'the snapshot has no trailer (written only in part?)';
      return result;
    }
    if (tv.getBigUint64(8, true) !== ref.zxid) {
      result.problem = 'the trailer zxid does not match the file name';
      return result;
    }
    if (tv.getBigUint64(16, true) !== BigInt(frameEnd - SNAPSHOT_HEADER_BYTES)) {
      result.problem = 'the trailer length does not match the file size';
      return result;
    }
    result.chunkCount = tv.getUint32(24, true);
    result.storedCrc = tv.getUint32(28, true);
    return result;
  }
}

async function readFully(io: StorageFs, fd: number, into: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < into.length) {
    const n = await io.read(fd, into, done, into.length - done, position + done);
    if (n <= 0) throw new Error(`invariant: unexpected end of file at ${position + done}`);
    done += n;
  }
}

/** Buffers small puts into 1 MiB writes and keeps the running CRC of everything put. */
class BlockWriter {
  crc = 0;
  private readonly block = new Uint8Array(IO_BLOCK_BYTES);
  private used = 0;
  private position = 0;

  constructor(
    private readonly io: StorageFs,
    private readonly fd: number,
  ) {}

  async put(bytes: Uint8Array): Promise<void> {
    this.crc = crc32c(bytes, this.crc);
    if (bytes.length >= IO_BLOCK_BYTES) {
      await this.flush();
      await writeFully(this.io, this.fd, bytes, this.position);
      this.position += bytes.length;
      return;
    }
    if (this.used + bytes.length > IO_BLOCK_BYTES) await this.flush();
    this.block.set(bytes, this.used);
    this.used += bytes.length;
  }

  async flush(): Promise<void> {
    if (this.used === 0) return;
    await writeFully(this.io, this.fd, this.block, this.position, 0, this.used);
    this.position += this.used;
    this.used = 0;
  }
}

/**
 * Reads `[position, end)` in 1 MiB blocks. Each block is a fresh buffer and chunks are views into
 * it, so a chunk stays valid after the reader moves on (the codec may keep it).
 */
class BlockReader {
  private block = new Uint8Array(0);
  private at = 0;

  constructor(
    private readonly io: StorageFs,
    private readonly fd: number,
    public position: number,
    private readonly end: number,
  ) {}

  /** The next `n` bytes, or undefined when fewer than `n` remain before `end`. */
  async take(n: number): Promise<Uint8Array | undefined> {
    if (this.position + n > this.end) return undefined;
    let available = this.block.length - this.at;
    if (available === 0 && n < IO_BLOCK_BYTES) {
      this.block = new Uint8Array(Math.min(IO_BLOCK_BYTES, this.end - this.position));
      this.at = 0;
      await readFully(this.io, this.fd, this.block, this.position);
      available = this.block.length;
    }
    if (available >= n) {
      const out = this.block.subarray(this.at, this.at + n);
      this.at += n;
      this.position += n;
      return out;
    }
    const out = new Uint8Array(n);
    out.set(this.block.subarray(this.at), 0);
    let filled = available;
    const filePos = this.position + available;
    if (n - filled >= IO_BLOCK_BYTES) {
      const need = n - filled;
      await readFully(this.io, this.fd, out.subarray(filled), filePos);
      filled += need;
      this.block = new Uint8Array(0);
      this.at = 0;
    } else {
      const size = Math.min(IO_BLOCK_BYTES, this.end - filePos);
      this.block = new Uint8Array(size);
      await readFully(this.io, this.fd, this.block, filePos);
      out.set(this.block.subarray(0, n - filled), filled);
      this.at = n - filled;
    }
    this.position += n;
    return out;
  }
}
