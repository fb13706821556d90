import { isConclaveError, NodeExistsError } from '@conclave/core';
import type { RecipeClient } from '../recipe-client.js';
import { awaitVisible } from './paths.js';
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
        const stat = await awaitVisible(client, path, signal);
        if (stat === null) throw err; // gone again (its owner left): rare, let the caller decide
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
    throw new TypeError(`${what}: id ${JSON.stringify(id)} must be a non-empty node name without '/'`);
  }
  return id;
}
