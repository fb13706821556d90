// The linearizability checker's public surface (prefixed names where a bare one could clash).
export {
  type CheckOptions as LinearizabilityCheckOptions,
  type CheckResult as LinearizabilityCheckResult,
  type CheckVerdict as LinearizabilityVerdict,
  checkLinearizable,
} from './checker.js';
export type { Model as LinearizabilityModel, Operation as HistoryOperation } from './model.js';
export {
  applyZnodeOp,
  partitionByPaths,
  ZNODE_BADVERSION,
  ZNODE_NODEEXISTS,
  ZNODE_NONODE,
  ZNODE_OK,
  ZNODE_RUNTIMEINCONSISTENCY,
  type ZnodeOp,
  type ZnodeOperation,
  type ZnodeResult,
  type ZnodeState,
  znodeModel,
  znodePaths,
} from './znode-model.js';
