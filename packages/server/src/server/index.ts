export { ADMIN_COMMANDS, type AdminCommand, SERVER_VERSION } from './admin.js';
export { LocalReplicator, type ReplicaLog } from './local-replicator.js';
export type { ServerOptions } from './options.js';
export type { Proposal, Replicator, ReplicatorHandlers } from './replicator.js';
export { type Server, startServer } from './start-server.js';
