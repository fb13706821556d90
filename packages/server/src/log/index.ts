export { writeFileAtomic } from './atomic-file.js';
export { crc32c } from './crc32c.js';
export { type EpochFileName, readEpochFile, writeEpochFile } from './epoch-file.js';
export { LogWriteError, StorageCorruptionError } from './errors.js';
export { type StorageFs, nodeFs } from './file-system.js';
export { RECORD_HEADER_BYTES, encodeRecord } from './record-format.js';
export type { RecoveryCodec, RecoveryResult } from './recovery.js';
export { SEGMENT_HEADER_BYTES, parseSegmentFileName, segmentFileName } from './segment.js';
export { parseSnapshotFileName, snapshotFileName } from './snapshot-store.js';
export {
  DEFAULT_SEGMENT_BYTES,
  DEFAULT_SNAPSHOTS_TO_KEEP,
  Storage,
  type StorageOptions,
  type StorageStats,
} from './storage.js';
export { type LogStats, TxnLog, type TxnLogOptions } from './txn-log.js';
