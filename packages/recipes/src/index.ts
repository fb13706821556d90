/**
 * Public API of @conclave/recipes: explicit named exports, grouped by recipe. Everything under
 * ./internal/ is an implementation detail; export from there only what a user must name.
 */

// The client the recipes run on, and the errors they raise on top of the client's.
export { LockTimeoutError, RecipeClosedError, SessionLostError } from './errors.js';
export type { ConnectionState, RecipeClient } from './recipe-client.js';

// What a holder of a lock, lease, membership or registration knows about its hold.
export type { HoldState } from './internal/hold.js';

// Locks and leases.
export { type AcquireOptions, type LockHandle, Mutex } from './mutex.js';
export { ReadWriteLock } from './read-write-lock.js';
export { type Lease, type LeaseAcquireOptions, Semaphore, type SemaphoreOptions } from './semaphore.js';

// Leader election.
export { type ElectionState, LeaderElection, type LeaderElectionOptions } from './leader-election.js';
export { ElectionObserver } from './election-observer.js';
export type { Participant } from './internal/participant.js';

// Barriers.
export { Barrier } from './barrier.js';
export { DoubleBarrier, type DoubleBarrierOptions } from './double-barrier.js';

// Queues.
export type { TakeOptions } from './internal/queue-base.js';
export { DistributedQueue } from './distributed-queue.js';
export { PriorityQueue } from './priority-queue.js';
export { DelayQueue } from './delay-queue.js';

// Shared values and ids.
export { type Codec, jsonCodec } from './internal/codec.js';
export { ConfigValue, type ConfigValueOptions, type Versioned } from './config-value.js';
export { SharedCounter } from './shared-counter.js';
export { nextId } from './next-id.js';

// Group membership and service discovery.
export { GroupMembership, type Member } from './group-membership.js';
export {
  type PickStrategy,
  type Registration,
  ServiceDiscovery,
  type ServiceInstance,
} from './service-discovery.js';

// Caches.
export type { CachedNode, CacheEvent } from './internal/cache-events.js';
export { NodeCache } from './node-cache.js';
export { TreeCache } from './tree-cache.js';

// Two-phase commit.
export {
  type Decision,
  type Outcome,
  type ParticipantHandlers,
  TwoPhaseCommit,
} from './two-phase-commit.js';

// Queue-node naming, for tools that inspect a lock, semaphore or election queue.
export { parseQueueNode, type QueueNode, sortQueue } from './internal/sequence.js';
