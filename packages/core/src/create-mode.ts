/** How a znode is created; the names and numbers are ZooKeeper's CreateMode flags. */
export const CreateMode = {
  PERSISTENT: 0,
  EPHEMERAL: 1,
  PERSISTENT_SEQUENTIAL: 2,
  EPHEMERAL_SEQUENTIAL: 3,
  CONTAINER: 4,
  PERSISTENT_WITH_TTL: 5,
  PERSISTENT_SEQUENTIAL_WITH_TTL: 6,
} as const;

export type CreateModeName = keyof typeof CreateMode;
export type CreateModeFlag = (typeof CreateMode)[CreateModeName];

const names = Object.keys(CreateMode) as CreateModeName[];

export function createModeName(flag: number): CreateModeName | undefined {
  return names.find((n) => CreateMode[n] === flag);
}

export function isSequential(mode: CreateModeFlag): boolean {
  return (
    mode === CreateMode.PERSISTENT_SEQUENTIAL ||
    mode === CreateMode.EPHEMERAL_SEQUENTIAL ||
    mode === CreateMode.PERSISTENT_SEQUENTIAL_WITH_TTL
  );
}

export function isEphemeral(mode: CreateModeFlag): boolean {
  return mode === CreateMode.EPHEMERAL || mode === CreateMode.EPHEMERAL_SEQUENTIAL;
}

export function isContainer(mode: CreateModeFlag): boolean {
  return mode === CreateMode.CONTAINER;
}

export function isTtl(mode: CreateModeFlag): boolean {
  return mode === CreateMode.PERSISTENT_WITH_TTL || mode === CreateMode.PERSISTENT_SEQUENTIAL_WITH_TTL;
}

/**
 * ZooKeeper encodes a node's kind in `ephemeralOwner`: a session id for ephemerals, and for
 * containers and TTL nodes special values with the high byte 0xff (EphemeralType.java). We keep
 * the same encoding so a Stat reads the same as in ZooKeeper.
 */
export const CONTAINER_EPHEMERAL_OWNER = -0x8000000000000000n;
export const TTL_EPHEMERAL_OWNER_MASK = 0xff00000000000000n;
/** Largest TTL ZooKeeper accepts (2^40 - 1 ms, about 34 years). */
export const MAX_TTL_MS = 0xffffffffff;

export function ttlEphemeralOwner(ttlMs: number): bigint {
  return BigInt.asIntN(64, TTL_EPHEMERAL_OWNER_MASK | BigInt(ttlMs));
}

/** Describes an `ephemeralOwner` value: a plain node, a session's ephemeral, a container or a TTL node. */
export function ephemeralKind(
  owner: bigint,
):
  | { kind: 'persistent' }
  | { kind: 'ephemeral'; sessionId: bigint }
  | { kind: 'container' }
  | { kind: 'ttl'; ttlMs: number } {
  if (owner === 0n) return { kind: 'persistent' };
  if (owner === CONTAINER_EPHEMERAL_OWNER) return { kind: 'container' };
  const unsigned = BigInt.asUintN(64, owner);
  if ((unsigned & TTL_EPHEMERAL_OWNER_MASK) === TTL_EPHEMERAL_OWNER_MASK) {
    return { kind: 'ttl', ttlMs: Number(unsigned & 0xffffffffffn) };
  }
  return { kind: 'ephemeral', sessionId: owner };
}
