import { join } from 'node:path';
import { type StorageFs, fsyncDir, unlinkIfExists, writeFully } from './file-system.js';

/** Suffix of files being written; a crash can leave one behind, and opening the storage removes them. */
export const TEMP_SUFFIX = '.tmp';

/**
 * Replaces `dir/name` with `bytes` so that after a crash the file holds either the old or the new
 * content, never a mix: write a temp file, fsync it, rename it over the target, fsync the
 * directory (the rename itself is only durable once the directory is).
 */
export async function writeFileAtomic(
  io: StorageFs,
  dir: string,
  name: string,
  bytes: Uint8Array,
  fsync: boolean,
): Promise<void> {
  const temp = join(dir, name + TEMP_SUFFIX);
  const fd = await io.open(temp, 'w');
  try {
    await writeFully(io, fd, bytes, 0);
    if (fsync) await io.fsync(fd);
  } catch (err) {
    await io.close(fd).catch(() => {});
    await unlinkIfExists(io, temp).catch(() => {});
    throw err;
  }
  await io.close(fd);
  await io.rename(temp, join(dir, name));
  if (fsync) await fsyncDir(io, dir);
}
