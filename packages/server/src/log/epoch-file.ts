import { join } from 'node:path';
import { BadArgumentsError } from '@conclave/core';
import { writeFileAtomic } from './atomic-file.js';
import { crc32c } from './crc32c.js';
import { StorageCorruptionError } from './errors.js';
import type { StorageFs } from './file-system.js';

/** The two epoch files ZAB persists (ZooKeeper's names). */
export type EpochFileName = 'acceptedEpoch' | 'currentEpoch';

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });
const FORMAT = /^(\d{1,10}) crc32c=([0-9a-f]{8})\n$/;

/**
 * Text form `<epoch> crc32c=<8 hex>\n`: readable with `cat` like ZooKeeper's files, and the CRC
 * catches a flipped digit that would otherwise read as a different, valid-looking epoch.
 */
export function formatEpochFile(epoch: number): Uint8Array {
  const digits = String(epoch);
  const crc = crc32c(encoder.encode(digits)).toString(16).padStart(8, '0');
  return encoder.encode(`${digits} crc32c=${crc}\n`);
}

/** Reads an epoch file: missing means 0 (a member that never got that far); damaged is an error. */
export async function readEpochFile(io: StorageFs, dir: string, name: EpochFileName): Promise<number> {
  const file = join(dir, name);
  let bytes: Uint8Array;
  try {
    bytes = await io.readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw err;
  }
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    throw new StorageCorruptionError(file, 0, 'the epoch file is not UTF-8 text');
  }
  const match = FORMAT.exec(text);
  if (!match)
    throw new StorageCorruptionError(file, 0, `the epoch file does not read "<epoch> crc32c=<hex>"`);
  const digits = match[1]!;
  const expected = crc32c(encoder.encode(digits)).toString(16).padStart(8, '0');
  if (expected !== match[2]) {
    throw new StorageCorruptionError(file, 0, `the epoch file's CRC ${match[2]} does not match ${expected}`);
  }
  const epoch = Number(digits);
  if (epoch > 0xffffffff) throw new StorageCorruptionError(file, 0, `epoch ${epoch} exceeds 32 bits`);
  return epoch;
}

/** Writes an epoch file atomically (temp + fsync + rename + directory fsync). */
export async function writeEpochFile(
  io: StorageFs,
  dir: string,
  name: EpochFileName,
  epoch: number,
  fsync: boolean,
): Promise<void> {
  if (!Number.isInteger(epoch) || epoch < 0 || epoch > 0xffffffff) {
    throw new BadArgumentsError(`${name} must be an integer in [0, 2^32), got ${epoch}`);
  }
  await writeFileAtomic(io, dir, name, formatEpochFile(epoch), fsync);
}
