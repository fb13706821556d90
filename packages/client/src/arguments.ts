import {
  type ACL,
  BadArgumentsError,
  CreateMode,
  type CreateModeFlag,
  type CreateModeName,
  createModeName,
  isTtl,
  Limits,
  MAX_TTL_MS,
  validatePath,
  validateSequentialPath,
  isSequential,
} from '@conclave/core';

/**
 * Client-side checks of call arguments. Everything a server would refuse for its shape alone is
 * refused here first, with a BadArgumentsError that says what to fix, before a byte is sent.
 */

/** Znode data as callers may give it: a string is encoded as UTF-8. */
export type Data = string | Uint8Array;

const utf8 = new TextEncoder();

export function toBytes(data: Data | undefined, maxDataBytes: number, path: string): Uint8Array {
  let bytes: Uint8Array;
  if (data === undefined || data === null) bytes = new Uint8Array(0);
  else if (typeof data === 'string') bytes = utf8.encode(data);
  else if (data instanceof Uint8Array) bytes = data;
  else throw new BadArgumentsError('data must be a string (sent as UTF-8) or a Uint8Array', path);
  if (bytes.length > maxDataBytes) {
    throw new BadArgumentsError(
      `data of ${bytes.length} bytes exceeds the limit of ${maxDataBytes} bytes (maxDataBytes); store large values elsewhere and keep a reference in the node`,
      path,
    );
  }
  return bytes;
}

/** Accepts a CreateMode name ('EPHEMERAL') or flag (CreateMode.EPHEMERAL); default PERSISTENT. */
export function resolveMode(mode: CreateModeName | CreateModeFlag | undefined, path: string): CreateModeFlag {
  if (mode === undefined) return CreateMode.PERSISTENT;
  if (typeof mode === 'string' && Object.hasOwn(CreateMode, mode)) return CreateMode[mode];
  if (typeof mode === 'number' && createModeName(mode) !== undefined) return mode;
  throw new BadArgumentsError(
    `unknown create mode ${JSON.stringify(mode)}: use one of ${Object.keys(CreateMode).join(', ')}`,
    path,
  );
}

export function checkCreatePath(path: string, mode: CreateModeFlag): string {
  return isSequential(mode) ? validateSequentialPath(path) : validatePath(path);
}

/** TTL modes need `ttlMs` in 1..MAX_TTL_MS; the other modes must not have one. */
export function checkTtl(mode: CreateModeFlag, ttlMs: number | undefined, path: string): number | undefined {
  if (!isTtl(mode)) {
    if (ttlMs !== undefined) {
      throw new BadArgumentsError(
        'ttlMs is only valid with PERSISTENT_WITH_TTL or PERSISTENT_SEQUENTIAL_WITH_TTL',
        path,
      );
    }
    return undefined;
  }
  if (typeof ttlMs !== 'number' || !Number.isInteger(ttlMs) || ttlMs <= 0 || ttlMs > MAX_TTL_MS) {
    throw new BadArgumentsError(`a TTL create needs ttlMs, an integer in 1..${MAX_TTL_MS}`, path);
  }
  return ttlMs;
}

/** -1 (any version) by default; otherwise an integer ≥ -1. */
export function checkVersion(version: number | undefined, path: string): number {
  if (version === undefined) return -1;
  if (typeof version !== 'number' || !Number.isInteger(version) || version < -1 || version > 0x7fffffff) {
    throw new BadArgumentsError(
      `version must be an integer >= -1 (-1 matches any), got ${String(version)}`,
      path,
    );
  }
  return version;
}

export function checkAcl(acl: readonly ACL[], path: string): ACL[] {
  if (!Array.isArray(acl) || acl.length === 0) {
    throw new BadArgumentsError(
      'an ACL must be a non-empty array (OPEN_ACL_UNSAFE grants everything to anyone)',
      path,
    );
  }
  if (acl.length > Limits.maxAclEntries) {
    throw new BadArgumentsError(`an ACL may have at most ${Limits.maxAclEntries} entries`, path);
  }
  return acl.map((entry) => {
    const ok =
      typeof entry === 'object' &&
      entry !== null &&
      Number.isInteger(entry.perms) &&
      entry.perms >= 0 &&
      entry.perms <= 31 &&
      typeof entry.id?.scheme === 'string' &&
      typeof entry.id?.id === 'string';
    if (!ok) {
      throw new BadArgumentsError(
        `invalid ACL entry ${safeJson(entry)}: expected { perms: 0..31, id: { scheme, id } }`,
        path,
      );
    }
    return { perms: entry.perms, id: { scheme: entry.id.scheme, id: entry.id.id } };
  });
}

export function checkListener(listener: unknown, path: string, what = 'watch'): void {
  if (listener !== undefined && typeof listener !== 'function') {
    throw new BadArgumentsError(`${what} must be a function (event) => void`, path);
  }
}

export function checkSignal(signal: unknown): void {
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new BadArgumentsError('signal must be an AbortSignal');
  }
}

function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x)) ?? String(v);
  } catch {
    return String(v);
  }
}
