/** Watch event types (ZooKeeper's Watcher.Event.EventType names). */
export type EventType =
  | 'NodeCreated'
  | 'NodeDeleted'
  | 'NodeDataChanged'
  | 'NodeChildrenChanged'
  | 'DataWatchRemoved'
  | 'ChildWatchRemoved'
  | 'PersistentWatchRemoved';

/** A watch notification, as delivered to the client: the path is in the client's namespace. */
export interface WatchedEvent {
  type: EventType;
  path: string;
  /** zxid of the txn that fired it (0n for watch-removed events). */
  zxid: bigint;
}
