import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { StorageFs } from '../../src/log/index.js';

/**
 * A StorageFs wrapper that knows what a power loss would leave on disk.
 *
 * SIGKILL (crash.test.ts) keeps the page cache: everything written survives, so that test would
 * pass with every fsync removed. This wrapper forwards every call to the real file system (which
 * serves as the page cache: reads see every write) and separately remembers, per file and per
 * directory, what has been made durable:
 *
 * - file data: writes and truncates since the file's last fsync/fdatasync are *pending*;
 * - directory entries: creates, renames and unlinks since the directory's last fsync are pending
 *   (an fsync of a file does not make its name durable, as POSIX allows).
 *
 * `powerLossImage` then builds the disk after a power cut: the durable state plus a random part of
 * what was pending. Each pending write is kept, dropped or torn at sector granularity (a prefix of
 * its sectors, or with `tear: 'any'` any subset, as a disk may persist sectors out of order); each
 * pending truncate and each pending directory operation is independently kept or dropped (in
 * order). fsync itself is not forwarded: durability is modelled here, and real fsyncs would only
 * make the test slow.
 *
 * Calls run one at a time in call order, so a run is a function of its seed (the storage's own
 * concurrency, e.g. a snapshot written while appends continue, interleaves deterministically).
 * `cut` decides, before each call, whether the power fails right there: that call and every later
 * one reject with EIO, so nothing can be acknowledged after the cut.
 */
export interface PowerLossOptions {
  /** A seeded PRNG in [0, 1). */
  random: () => number;
  /** Whether the power fails just before this call (given its kind). Default: never. */
  cut?: (kind: OpKind) => boolean;
  /** How a pending write tears: a prefix of its sectors (default) or any subset. */
  tear?: 'prefix' | 'any';
  /** Sector size for tearing. Default 512. */
  sectorBytes?: number;
}

export type OpKind = keyof StorageFs;

type PendingData =
  | { kind: 'write'; position: number; bytes: Uint8Array }
  | { kind: 'truncate'; length: number };
type PendingEntry =
  | { kind: 'link'; name: string; inode: Inode }
  | { kind: 'unlink'; name: string }
  | { kind: 'rename'; from: string; to: string; inode: Inode };

interface Inode {
  /** The file's content as of its last fsync. */
  durable: Uint8Array;
  pending: PendingData[];
}

type Handle = { kind: 'file'; inode: Inode } | { kind: 'dir' };

export class PowerLossFs implements StorageFs {
  /** Set once the power failed: every call rejects from then on. */
  poweredOff = false;
  /** Calls made (for the test's statistics). */
  calls = 0;
  private readonly durableNames = new Map<string, Inode>();
  private readonly currentNames = new Map<string, Inode>();
  private pendingNames: PendingEntry[] = [];
  private readonly handles = new Map<number, Handle>();
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly inner: StorageFs,
    /** The one directory storage uses; every file must be directly inside it. */
    readonly dir: string,
    private readonly opts: PowerLossOptions,
  ) {}

  /** Wraps `inner` for `dir`, taking the files already in `dir` as durable. */
  static async adopt(inner: StorageFs, dir: string, opts: PowerLossOptions): Promise<PowerLossFs> {
    await mkdir(dir, { recursive: true });
    const fs = new PowerLossFs(inner, dir, opts);
    for (const name of await readdir(dir)) {
      const inode: Inode = { durable: new Uint8Array(await readFile(join(dir, name))), pending: [] };
      fs.durableNames.set(name, inode);
      fs.currentNames.set(name, inode);
    }
    return fs;
  }

  /** Writes what the disk would hold after a power cut now (see the class comment) into `target`. */
  async writePowerLossImage(target: string): Promise<void> {
    await mkdir(target, { recursive: true });
    for (const [name, bytes] of this.powerLossImage()) await writeFile(join(target, name), bytes);
  }

  /** The files after a power cut now: the durable state plus a random part of what was pending. */
  powerLossImage(): Map<string, Uint8Array> {
    const { random } = this.opts;
    const names = new Map(this.durableNames);
    for (const op of this.pendingNames) {
      if (random() < 0.5) continue;
      if (op.kind === 'link') names.set(op.name, op.inode);
      else if (op.kind === 'unlink') names.delete(op.name);
      else {
        names.delete(op.from);
        names.set(op.to, op.inode);
      }
    }
    const image = new Map<string, Uint8Array>();
    const contents = new Map<Inode, Uint8Array>();
    for (const [name, inode] of names) {
      let bytes = contents.get(inode);
      if (!bytes) {
        bytes = inode.durable;
        for (const op of inode.pending) bytes = this.maybeApply(bytes, op);
        contents.set(inode, bytes);
      }
      image.set(name, bytes);
    }
    return image;
  }

  open(path: string, flags: string): Promise<number> {
    return this.run('open', async () => {
      if (path === this.dir) {
        const fd = await this.inner.open(path, flags);
        this.handles.set(fd, { kind: 'dir' });
        return fd;
      }
      const name = this.nameOf(path);
      const existing = this.currentNames.get(name);
      const fd = await this.inner.open(path, flags);
      let inode = existing;
      if (!inode) {
        if (!flags.includes('w')) throw new Error(`invariant: ${path} opened (${flags}) but never created`);
        inode = { durable: new Uint8Array(0), pending: [] };
        this.currentNames.set(name, inode);
        this.pendingNames.push({ kind: 'link', name, inode });
      } else if (flags.startsWith('w')) {
        inode.pending.push({ kind: 'truncate', length: 0 });
      }
      this.handles.set(fd, { kind: 'file', inode });
      return fd;
    });
  }

  close(fd: number): Promise<void> {
    // Forwarded even after the cut (in order): it changes nothing on disk and releases the real fd.
    const result = this.queue.then(() => {
      this.handles.delete(fd);
      return this.inner.close(fd);
    });
    this.queue = result.catch(() => {});
    return result;
  }

  write(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    return this.run('write', async () => {
      const inode = this.file(fd);
      const n = await this.inner.write(fd, buffer, offset, length, position);
      inode.pending.push({ kind: 'write', position, bytes: buffer.slice(offset, offset + n) });
      return n;
    });
  }

  read(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    return this.run('read', () => this.inner.read(fd, buffer, offset, length, position));
  }

  fdatasync(fd: number): Promise<void> {
    return this.run('fdatasync', async () => this.sync(fd));
  }

  fsync(fd: number): Promise<void> {
    return this.run('fsync', async () => this.sync(fd));
  }

  ftruncate(fd: number, length: number): Promise<void> {
    return this.run('ftruncate', async () => {
      const inode = this.file(fd);
      await this.inner.ftruncate(fd, length);
      inode.pending.push({ kind: 'truncate', length });
    });
  }

  fileSize(fd: number): Promise<number> {
    return this.run('fileSize', () => this.inner.fileSize(fd));
  }

  readdir(dir: string): Promise<string[]> {
    return this.run('readdir', () => this.inner.readdir(dir));
  }

  rename(from: string, to: string): Promise<void> {
    return this.run('rename', async () => {
      const source = this.nameOf(from);
      const target = this.nameOf(to);
      const inode = this.currentNames.get(source);
      await this.inner.rename(from, to);
      if (!inode) throw new Error(`invariant: renamed ${from}, which was never created`);
      this.currentNames.delete(source);
      this.currentNames.set(target, inode);
      this.pendingNames.push({ kind: 'rename', from: source, to: target, inode });
    });
  }

  unlink(path: string): Promise<void> {
    return this.run('unlink', async () => {
      const name = this.nameOf(path);
      await this.inner.unlink(path);
      this.currentNames.delete(name);
      this.pendingNames.push({ kind: 'unlink', name });
    });
  }

  mkdir(dir: string): Promise<void> {
    return this.run('mkdir', async () => {
      if (dir !== this.dir) throw new Error(`invariant: mkdir ${dir} outside ${this.dir}`);
      await this.inner.mkdir(dir);
    });
  }

  readFile(path: string): Promise<Uint8Array> {
    return this.run('readFile', () => this.inner.readFile(path));
  }

  /** Runs calls one at a time in call order; the power may fail before each. */
  private run<T>(kind: OpKind, fn: () => Promise<T>): Promise<T> {
    const result = this.queue.then(async () => {
      if (!this.poweredOff && this.opts.cut?.(kind)) this.poweredOff = true;
      if (this.poweredOff) throw powerLost(kind);
      this.calls++;
      const value = await fn();
      // A call that was under way when the power failed reports failure: nothing after the cut
      // may look acknowledged.
      if (this.poweredOff) throw powerLost(kind);
      return value;
    });
    this.queue = result.catch(() => {});
    return result;
  }

  private sync(fd: number): void {
    const handle = this.handles.get(fd);
    if (!handle) throw new Error(`invariant: fsync of unknown fd ${fd}`);
    if (handle.kind === 'dir') {
      for (const op of this.pendingNames) {
        if (op.kind === 'link') this.durableNames.set(op.name, op.inode);
        else if (op.kind === 'unlink') this.durableNames.delete(op.name);
        else {
          this.durableNames.delete(op.from);
          this.durableNames.set(op.to, op.inode);
        }
      }
      this.pendingNames = [];
      return;
    }
    const { inode } = handle;
    for (const op of inode.pending) inode.durable = apply(inode.durable, op);
    inode.pending = [];
  }

  private maybeApply(bytes: Uint8Array, op: PendingData): Uint8Array {
    const { random } = this.opts;
    const roll = random();
    if (roll < 1 / 3) return bytes; // never reached the disk
    if (roll < 2 / 3 || op.kind === 'truncate') return apply(bytes, op);
    // Torn: only some of the write's sectors reached the disk.
    const sector = this.opts.sectorBytes ?? 512;
    const end = op.position + op.bytes.length;
    let out = bytes;
    let keep = true;
    for (let at = op.position; at < end; ) {
      const next = Math.min(end, (Math.floor(at / sector) + 1) * sector);
      keep = this.opts.tear === 'any' ? random() < 0.5 : keep && random() < 0.8;
      if (keep) {
        out = apply(out, {
          kind: 'write',
          position: at,
          bytes: op.bytes.subarray(at - op.position, next - op.position),
        });
      }
      at = next;
    }
    return out;
  }

  private file(fd: number): Inode {
    const handle = this.handles.get(fd);
    if (handle?.kind !== 'file') throw new Error(`invariant: fd ${fd} is not an open file`);
    return handle.inode;
  }

  private nameOf(path: string): string {
    if (dirname(path) !== this.dir) throw new Error(`invariant: ${path} is not directly in ${this.dir}`);
    return basename(path);
  }
}

function apply(bytes: Uint8Array, op: PendingData): Uint8Array {
  if (op.kind === 'truncate') {
    if (op.length <= bytes.length) return bytes.slice(0, op.length);
    const grown = new Uint8Array(op.length);
    grown.set(bytes);
    return grown;
  }
  const end = op.position + op.bytes.length;
  const out = new Uint8Array(Math.max(bytes.length, end));
  out.set(bytes);
  out.set(op.bytes, op.position);
  return out;
}

function powerLost(kind: string): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error(`EIO: the power failed (simulated) before ${kind}`);
  err.code = 'EIO';
  return err;
}
