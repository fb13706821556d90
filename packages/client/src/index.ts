// Public API of @conclave/client: each module appends its export line below.
export * from './connect.js';
export * from './client.js';
export * from './connection-state.js';
export * from './transaction.js';
export type { Data } from './arguments.js';
export type { Op, OpResult } from './multi-op.js';
export type { NodeData } from './observables.js';
export type { WatchListener, WatchKind } from './watch-registry.js';
export {
  parseConnectString,
  formatMember,
  DEFAULT_PORT,
  type Member,
  type ConnectString,
} from './connect-string.js';
