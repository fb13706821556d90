export { authenticate, checkPerms, digestId, isSuper, SUPER_ID } from './acl-check.js';
export { fixupAcl } from './acl-validate.js';
export { DataTree } from './data-tree.js';
export {
  type ApplyResult,
  Database,
  type DatabaseOptions,
  type SessionInfo,
  type TreeEvent,
} from './database.js';
export { ipMatches, parseIp } from './ip-address.js';
export {
  type PrepContext,
  Preparer,
  type PreparerOptions,
  type PrepResult,
  type WriteRequest,
} from './preparer.js';
export { SNAPSHOT_FORMAT } from './snapshot-format.js';
export { nextVersion } from './txn-check.js';
export { type WatchKind, WatchManager, type WatchManagerOptions } from './watch-manager.js';
export { Znode } from './znode.js';
