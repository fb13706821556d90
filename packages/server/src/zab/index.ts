// The ZAB module's public surface. Names are prefixed where a bare name (Ready, Vote, NodeId)
// could clash with other modules exported from the package root.
export { commonPoint as zabCommonPoint, isNextZxid, ZabHistory } from './history.js';
export { ZabNode, zabQuorumSize } from './node.js';
export { type Prng as ZabPrng, SeededPrng } from './prng.js';
export { voteIsBetter } from './quorum.js';
export type {
  LogRange as ZabLogRange,
  NodeId as ZabNodeId,
  ProposeResult as ZabProposeResult,
  Ready as ZabReady,
  SyncDone as ZabSyncDone,
  SyncStartResult as ZabSyncStartResult,
  Vote as ZabVote,
  ZabConfig,
  ZabEntry,
  ZabEvent,
  ZabFault,
  ZabMessage,
  ZabMessageBody,
  ZabPersistedState,
  ZabRefusal,
  ZabRole,
  ZabTimingConfig,
} from './types.js';
