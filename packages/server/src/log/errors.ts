import { DataInconsistencyError, SystemError } from '@conclave/core';

/**
 * A file in the data directory is damaged in a way recovery must not paper over: a bad record
 * followed by valid ones, a gap in the zxid sequence, an unreadable epoch file. The message names
 * the file and the byte offset so an operator can inspect it; the member must not start on it
 * (restore the directory from a healthy replica, or wipe it and let the member resync by SNAP).
 */
export class StorageCorruptionError extends DataInconsistencyError {
  /** Absolute path of the damaged file. */
  readonly file: string;
  /** Byte offset of the damage within the file (0 when the whole file is at fault). */
  readonly offset: number;
  /** What is wrong, without the file and the advice. */
  readonly reason: string;

  constructor(file: string, offset: number, what: string, options?: { cause?: unknown }) {
    super(
      `${file} at byte ${offset}: ${what}; refusing to continue: restore this data directory from a ` +
        'healthy replica or remove it so the member resyncs from the leader',
      undefined,
      options,
    );
    this.file = file;
    this.offset = offset;
    this.reason = what;
  }
}

/**
 * An append could not be made durable (write or fdatasync failed, e.g. ENOSPC or EIO). Nothing in
 * the failed batch was acknowledged. After a failed fsync the kernel may have dropped the dirty
 * pages, so the log cannot know what reached the disk: it refuses every further append until the
 * storage is closed and reopened (recovery then decides what survived), as ZooKeeper halts on a
 * failed log write.
 */
export class LogWriteError extends SystemError {
  /** The errno name of the underlying failure (e.g. 'ENOSPC'), when there is one. */
  readonly osCode: string | undefined;

  constructor(what: string, cause: unknown) {
    const osCode = (cause as NodeJS.ErrnoException | undefined)?.code;
    super(
      `${what}: ${(cause as Error | undefined)?.message ?? String(cause)}; the transaction log refuses ` +
        'further appends until the storage is reopened (free disk space first if the disk is full)',
      undefined,
      { cause },
    );
    this.osCode = osCode;
  }
}
