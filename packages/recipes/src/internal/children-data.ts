import { isConclaveError, joinPath, type Stat } from '@conclave/core';
import { type Observable, switchMap } from 'rxjs';
import type { RecipeClient } from '../recipe-client.js';
import { retrying } from './retry.js';
import { watchChildren } from './watch-node.js';

/** One child with its data, as read right after a listing. */
export interface ChildEntry {
  name: string;
  data: Uint8Array;
  stat: Stat;
}

/**
 * The children of `path` with their data: read in full after every change of the child list.
 * Children that vanish between the listing and the read are left out (the next listing confirms).
 * Data changes of a child that stays do not re-emit: membership and discovery records are written
 * once, at creation, by their ephemeral owner.
 */
export function watchChildrenWithData(client: RecipeClient, path: string): Observable<ChildEntry[]> {
  return watchChildren(client, path).pipe(
    switchMap(async (children) => {
      const entries = await Promise.all(
        (children ?? []).map(async (name): Promise<ChildEntry | null> => {
          try {
            const { data, stat } = await retrying(client, () => client.getData(joinPath(path, name)));
            return { name, data, stat };
          } catch (err) {
            if (isConclaveError(err, 'NONODE')) return null;
            throw err;
          }
        }),
      );
      return entries.filter((e): e is ChildEntry => e !== null);
    }),
  );
}
