/** Default limits. Every queue, frame and buffer in Conclave has a bound; these are the defaults. */
export const Limits = {
  /** Largest znode data, as ZooKeeper's jute.maxbuffer default. */
  maxDataBytes: 1024 * 1024,
  /** Largest frame on the wire: the largest data plus room for the path, ACL and header. */
  maxFrameBytes: 1024 * 1024 + 64 * 1024,
  /** Longest path accepted, in UTF-16 code units. */
  maxPathLength: 4096,
  /** Deepest nesting a decoded frame may have (multi ops inside a request are depth 3). */
  maxDecodeDepth: 16,
  /** Most elements in one decoded array or map (a multi's ops, an ACL list, children). */
  maxDecodeElements: 1_000_000,
  /** Most ops in one multi. */
  maxMultiOps: 1000,
  /** Most ACL entries on one node. */
  maxAclEntries: 64,
  /** Requests one connection may have outstanding before the server stops reading from it. */
  maxOutstandingRequests: 1000,
  /** Watches one session may hold. */
  maxWatchesPerSession: 100_000,
} as const;
