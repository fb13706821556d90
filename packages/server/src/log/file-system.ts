import * as fs from 'node:fs';

/**
 * The file operations storage uses, behind one small interface so tests can inject faults (ENOSPC,
 * EIO, a failed fsync) without mocking Node. Positions are explicit (pwrite/pread): storage never
 * relies on a file offset, so a retried or interleaved call cannot write at the wrong place.
 */
export interface StorageFs {
  open(path: string, flags: string): Promise<number>;
  close(fd: number): Promise<void>;
  /** Writes up to `length` bytes at `position`; returns the bytes written (may be short). */
  write(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): Promise<number>;
  /** Reads up to `length` bytes at `position`; returns the bytes read (0 at end of file). */
  read(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): Promise<number>;
  fdatasync(fd: number): Promise<void>;
  fsync(fd: number): Promise<void>;
  ftruncate(fd: number, length: number): Promise<void>;
  fileSize(fd: number): Promise<number>;
  readdir(dir: string): Promise<string[]>;
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  mkdir(dir: string): Promise<void>;
  readFile(path: string): Promise<Uint8Array>;
}

function call<T>(fn: (cb: (err: NodeJS.ErrnoException | null, value: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => fn((err, value) => (err ? reject(err) : resolve(value))));
}

/**
 * The real file system. Callback `fs` rather than `fs/promises` FileHandles: the log's hot path is
 * one write and one fdatasync per batch, and plain fds avoid FileHandle bookkeeping.
 */
export const nodeFs: StorageFs = {
  open: (path, flags) => call((cb) => fs.open(path, flags, 0o644, cb)),
  close: (fd) => call<void>((cb) => fs.close(fd, (err) => cb(err, undefined))),
  write: (fd, buffer, offset, length, position) =>
    call((cb) => fs.write(fd, buffer, offset, length, position, (err, n) => cb(err, n))),
  read: (fd, buffer, offset, length, position) =>
    call((cb) => fs.read(fd, buffer, offset, length, position, (err, n) => cb(err, n))),
  fdatasync: (fd) => call<void>((cb) => fs.fdatasync(fd, (err) => cb(err, undefined))),
  fsync: (fd) => call<void>((cb) => fs.fsync(fd, (err) => cb(err, undefined))),
  ftruncate: (fd, length) => call<void>((cb) => fs.ftruncate(fd, length, (err) => cb(err, undefined))),
  fileSize: (fd) => call((cb) => fs.fstat(fd, (err, st) => cb(err, st?.size ?? 0))),
  readdir: (dir) => call((cb) => fs.readdir(dir, cb)),
  rename: (from, to) => call<void>((cb) => fs.rename(from, to, (err) => cb(err, undefined))),
  unlink: (path) => call<void>((cb) => fs.unlink(path, (err) => cb(err, undefined))),
  mkdir: (dir) => call<void>((cb) => fs.mkdir(dir, { recursive: true }, (err) => cb(err, undefined))),
  readFile: (path) => call((cb) => fs.readFile(path, cb)),
};

/**
 * Whether this platform can open files with O_DSYNC (Linux, macOS; not Windows).
 */
export const DSYNC_SUPPORTED = typeof fs.constants.O_DSYNC === 'number';

/**
 * Opens `path` read-write with O_DSYNC: every write returns only once its data, and the metadata
 * needed to read it back, is on stable storage — the guarantee of write + fdatasync, in one system
 * call. For the log's hot path that is one thread-pool round trip per batch instead of two (each
 * round trip costs a thread wake-up and a completion on the event loop: ~30 µs of CPU and more of
 * latency on a busy virtual machine). `exclusive` creates the file and fails if it exists ('wx+').
 */
export function openDsync(path: string, exclusive: boolean): Promise<number> {
  const { O_RDWR, O_CREAT, O_EXCL, O_DSYNC } = fs.constants;
  if (!DSYNC_SUPPORTED) throw new Error('invariant: openDsync without O_DSYNC support');
  const flags = O_RDWR | O_DSYNC | (exclusive ? O_CREAT | O_EXCL : 0);
  return call((cb) => fs.open(path, flags, 0o644, cb));
}

/** Writes all of `bytes` at `position`, looping over short writes. */
export async function writeFully(
  io: StorageFs,
  fd: number,
  bytes: Uint8Array,
  position: number,
  offset = 0,
  length = bytes.length - offset,
): Promise<void> {
  let done = 0;
  while (done < length) {
    const n = await io.write(fd, bytes, offset + done, length - done, position + done);
    if (n <= 0) throw new Error(`invariant: write returned ${n} with ${length - done} bytes left`);
    done += n;
  }
}

/**
 * writeFully, synchronously, on an fd of node:fs (the O_DSYNC segments: see TxnLog.writeBatch for
 * when blocking the event loop on it is the cheaper choice).
 */
export function writeFullySync(
  fd: number,
  bytes: Uint8Array,
  position: number,
  offset: number,
  length: number,
): void {
  let done = 0;
  while (done < length) {
    const n = fs.writeSync(fd, bytes, offset + done, length - done, position + done);
    if (n <= 0) throw new Error(`invariant: write returned ${n} with ${length - done} bytes left`);
    done += n;
  }
}

/** fsyncs a directory so a create, rename or unlink inside it survives a power loss. */
export async function fsyncDir(io: StorageFs, dir: string): Promise<void> {
  const fd = await io.open(dir, 'r');
  try {
    await io.fsync(fd);
  } finally {
    await io.close(fd);
  }
}

/** Deletes a file, ignoring ENOENT (already gone is the outcome we wanted). */
export async function unlinkIfExists(io: StorageFs, path: string): Promise<void> {
  try {
    await io.unlink(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
