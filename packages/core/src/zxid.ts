/**
 * A zxid is ZooKeeper's 64-bit transaction id: the epoch in the high 32 bits, a counter in the low
 * 32. Conclave keeps zxids as `bigint` everywhere (in memory, on the wire, in the log) so no code
 * ever has to ask which representation it holds.
 */
export type Zxid = bigint;

export const ZXID_ZERO: Zxid = 0n;
const LOW32 = 0xffffffffn;

export function makeZxid(epoch: number, counter: number): Zxid {
  return (BigInt(epoch) << 32n) | BigInt(counter);
}

export function zxidEpoch(zxid: Zxid): number {
  return Number(zxid >> 32n);
}

export function zxidCounter(zxid: Zxid): number {
  return Number(zxid & LOW32);
}

/** Hex form used in file names and logs, like ZooKeeper's `log.100000001`. */
export function zxidHex(zxid: Zxid): string {
  return zxid.toString(16);
}

/** Human form `epoch:counter` for logs and admin output. */
export function formatZxid(zxid: Zxid): string {
  return `0x${zxidHex(zxid)} (${zxidEpoch(zxid)}:${zxidCounter(zxid)})`;
}

/**
 * ZooKeeper forces a new epoch before the counter wraps (ZOOKEEPER-1277): a leader whose next
 * counter would exceed this must step down and let a new election start a fresh epoch.
 */
export const ZXID_COUNTER_ROLLOVER_LIMIT = 0xfffffffe;
