import { ConclaveError, formatPerms, type ACL, type Stat } from '@conclave/core';

/** Output formats zkCli users know. */

/** A zxid or session id as zkCli prints it (unsigned 64-bit hex). */
export const hex = (n: bigint) => `0x${BigInt.asUintN(64, n).toString(16)}`;

export function formatStat(stat: Stat): string {
  return [
    `cZxid = ${hex(stat.czxid)}`,
    `ctime = ${new Date(stat.ctime).toUTCString()}`,
    `mZxid = ${hex(stat.mzxid)}`,
    `mtime = ${new Date(stat.mtime).toUTCString()}`,
    `pZxid = ${hex(stat.pzxid)}`,
    `cversion = ${stat.cversion}`,
    `dataVersion = ${stat.version}`,
    `aclVersion = ${stat.aversion}`,
    `ephemeralOwner = ${hex(stat.ephemeralOwner)}`,
    `dataLength = ${stat.dataLength}`,
    `numChildren = ${stat.numChildren}`,
  ].join('\n');
}

export function formatAcl(acl: readonly ACL[]): string {
  return acl.map((a) => `'${a.id.scheme},'${a.id.id}\n: ${formatPerms(a.perms)}`).join('\n');
}

/** zkCli's wording for the common errors, and what to do about them. */
const zkWording: Record<string, [(path: string) => string, string]> = {
  NONODE: [(p) => `Node does not exist: ${p}`, 'check the path with ls, or create the node first'],
  NODEEXISTS: [(p) => `Node already exists: ${p}`, 'use set to change its data, or delete it first'],
  BADVERSION: [
    (p) => `version No is not valid : ${p}`,
    'read the current version with stat and retry with it (or omit -v)',
  ],
  NOTEMPTY: [(p) => `Node not empty: ${p}`, 'delete its children first, or use deleteall'],
  NOAUTH: [
    (p) => `Insufficient permission : ${p}`,
    'authenticate with addauth digest user:password, or check getAcl',
  ],
  NOCHILDRENFOREPHEMERALS: [
    (p) => `Ephemerals cannot have children: ${p}`,
    'create the parent as a persistent node',
  ],
  INVALIDACL: [
    (p) => `Acl is not valid : ${p}`,
    'use scheme:id:perms, e.g. world:anyone:cdrwa or digest:user:hash:rw',
  ],
  BADARGUMENTS: [(p) => `Invalid arguments: ${p}`, 'paths are absolute, without a trailing /'],
  AUTHFAILED: [() => 'Authentication failed', 'use addauth digest user:password'],
  CONNECTIONLOSS: [() => 'Connection lost', 'is the server running? check --server HOST:PORT'],
  SESSIONEXPIRED: [() => 'Session expired', 'reconnect (start the cli again)'],
  NOWATCHER: [(p) => `No watcher found: ${p}`, 'nothing to remove'],
};

/** The lines to print for a failed command: the ZooKeeper-style message, then a hint. */
export function describeError(err: unknown, path?: string): string[] {
  if (err instanceof ConclaveError) {
    const w = zkWording[err.code];
    const p = err.path ?? path ?? '';
    if (w !== undefined) return [`${w[0](p)} (${err.code})`, `hint: ${w[1]}`];
    return [err.message];
  }
  return [`Error: ${(err as Error)?.message ?? String(err)}`];
}
