import type { ConnectionState } from '@conclave/client';
import type {
  ACL,
  CreateModeFlag,
  CreateModeName,
  MultiOp,
  MultiResult,
  Stat,
  WatchedEvent,
} from '@conclave/core';
import type { Observable } from 'rxjs';

/**
 * Connection states as the client reports them (Curator's names), the client's own type. The
 * recipes read only these: CONNECTED/RECONNECTED = usable; CONNECTING/SUSPENDED = the connection
 * is down but the session may live; LOST/EXPIRED/CLOSED = the session is gone, and with it every
 * ephemeral node. Type-only: the built recipes never load @conclave/client.
 */
export type { ConnectionState };

/** A one-shot watch listener. */
export type Watcher = (event: WatchedEvent) => void;

/**
 * The part of `ConclaveClient` (@conclave/client) the recipes use; the real client satisfies it.
 * Recipes take this structural type rather than the class so that a test can wrap a client (e.g.
 * to count watch firings) and so that another transport (the planned jute/ZooKeeper client) can
 * drive the same recipes.
 */
export interface RecipeClient {
  readonly sessionId: bigint;
  readonly state: ConnectionState;
  readonly state$: Observable<ConnectionState>;
  create(
    path: string,
    data?: string | Uint8Array,
    opts?: { mode?: CreateModeName | CreateModeFlag; acl?: ACL[]; ttlMs?: number; signal?: AbortSignal },
  ): Promise<string>;
  delete(path: string, opts?: { version?: number; signal?: AbortSignal }): Promise<void>;
  exists(path: string, opts?: { watch?: Watcher; signal?: AbortSignal }): Promise<Stat | null>;
  getData(
    path: string,
    opts?: { watch?: Watcher; signal?: AbortSignal },
  ): Promise<{ data: Uint8Array; stat: Stat }>;
  setData(
    path: string,
    data: string | Uint8Array,
    opts?: { version?: number; signal?: AbortSignal },
  ): Promise<Stat>;
  getChildren(
    path: string,
    opts?: { watch?: Watcher; signal?: AbortSignal },
  ): Promise<{ children: string[]; stat: Stat }>;
  /**
   * Optional: lets a read that follows a lost reply see every write the server accepted before
   * it (used before looking for our own protected node). Without it the lookup is a plain read.
   */
  sync?(path: string, opts?: { signal?: AbortSignal }): Promise<void>;
  multi(ops: MultiOp[], opts?: { signal?: AbortSignal }): Promise<MultiResult[]>;
  addWatch(
    path: string,
    mode: 'PERSISTENT' | 'PERSISTENT_RECURSIVE',
    listener: Watcher,
  ): Promise<() => Promise<void>>;
}
