import { afterAll, beforeAll } from 'vitest';
import type { ConclaveClient } from '../../../client/src/index.js';
import {
  type LocalEnsemble,
  type StartEnsembleOptions,
  startEnsemble,
} from '../../src/testing/ensemble/index.js';
import { buildMemberEntry } from './build-member.js';

/** A real-process ensemble shared by the tests of one `describe`, and the clients to close after. */
export interface EnsembleFixture {
  /** The running ensemble; only inside tests and hooks that run after the fixture's `beforeAll`. */
  readonly ens: LocalEnsemble;
  /** Clients the tests open; closed (best effort) before the ensemble is. */
  readonly clients: ConclaveClient[];
}

/**
 * Registers `beforeAll`/`afterAll` hooks in the calling `describe` that bundle the member entry
 * from the current sources, start an ensemble with `opts` and wait for a leader, then close the
 * tests' clients, the ensemble and the bundle. Call it at the top of the `describe` body.
 */
export function useEnsemble(opts: Omit<StartEnsembleOptions, 'entry'>): EnsembleFixture {
  let ens: LocalEnsemble | undefined;
  let removeBuild: (() => Promise<void>) | undefined;
  const clients: ConclaveClient[] = [];

  beforeAll(async () => {
    const built = await buildMemberEntry();
    removeBuild = built.remove;
    ens = await startEnsemble({ ...opts, entry: built.entry });
    await ens.waitForLeader(30_000);
  }, 60_000);

  afterAll(async () => {
    await Promise.allSettled(clients.map((c) => c.close()));
    await ens?.close();
    await removeBuild?.();
  }, 60_000);

  return {
    get ens() {
      if (ens === undefined)
        throw new Error('invariant: the ensemble fixture is used before its beforeAll ran');
      return ens;
    },
    clients,
  };
}
