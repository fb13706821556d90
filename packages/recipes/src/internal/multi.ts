import { ConclaveError, ErrorCode, type MultiOp, type MultiResult } from '@conclave/core';
import type { RecipeClient } from '../recipe-client.js';

/**
 * Runs a multi and reports its outcome as one errno: 0 when every op applied, else the errno (and
 * path, when known) of the op that failed (not the RUNTIMEINCONSISTENCY the others report). Works whether the client
 * rejects a failed multi with a ConclaveError or resolves with per-op error results.
 * Errors that say nothing about the ops (CONNECTIONLOSS, SESSIONEXPIRED, ...) are thrown.
 */
export async function multiOutcome(
  client: RecipeClient,
  ops: MultiOp[],
  signal?: AbortSignal,
): Promise<{ errno: number; path?: string | undefined }> {
  let results: MultiResult[];
  try {
    results = await client.multi(ops, { signal });
  } catch (err) {
    if (err instanceof ConclaveError && isOpError(err.errno)) return { errno: err.errno, path: err.path };
    throw err;
  }
  for (const [i, r] of results.entries()) {
    if (r.op === 'error' && r.err !== 0 && r.err !== ErrorCode.RUNTIMEINCONSISTENCY) {
      return { errno: r.err, path: ops[i]?.path };
    }
  }
  return { errno: 0 };
}

/** Errors an op of a multi can fail with (the multi was applied or rejected as a whole). */
function isOpError(errno: number): boolean {
  return (
    errno === ErrorCode.NONODE ||
    errno === ErrorCode.NODEEXISTS ||
    errno === ErrorCode.BADVERSION ||
    errno === ErrorCode.NOTEMPTY ||
    errno === ErrorCode.NOCHILDRENFOREPHEMERALS ||
    errno === ErrorCode.NOAUTH
  );
}
