import { BadArgumentsError, isConclaveError, NodeExistsError } from '@conclave/core';
import type { RecipeClient } from '../recipe-client.js';
import { retrying } from './retry.js';

/**
 * Creates an ephemeral node with a fixed name, safely across CONNECTIONLOSS: when a retry finds
 * the node already there, it is ours if our session owns it (the first attempt worked) and someone
 * else's otherwise (NodeExistsError, saying who to blame).
 */
export async function createOwnEphemeral(
  client: RecipeClient,
  path: string,
  data: Uint8Array,
  what: string,
  signal?: AbortSignal,
): Promise<void> {
  await retrying(
    client,
    async () => {
      try {
        await client.create(path, data, { mode: 'EPHEMERAL', signal });
      } catch (err) {
        if (!isConclaveError(err, 'NODEEXISTS')) throw err;
        // The server answers NODEEXISTS only once the create it rests on is applied, so this read
        // sees that node — unless its owner has left since (null): then the id is free again,
        // and the error says so to a caller that may simply retry.
        const stat = await client.exists(path, { signal });
        if (stat === null) throw err;
        if (stat.ephemeralOwner !== client.sessionId) {
          throw new NodeExistsError(
            `${what}: the id is already taken by another session; use a unique id`,
            path,
          );
        }
      }
    },
    signal,
  );
}

/** Validates a recipe participant id used as a node name. */
export function validateId(id: string, what: string): string {
  if (typeof id !== 'string' || id.length === 0 || id.includes('/') || id === '.' || id === '..') {
    throw new BadArgumentsError(
      `${what}: id ${JSON.stringify(id)} must be a non-empty node name without '/' (and not '.' or '..')`,
    );
  }
  return id;
}
