import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach } from 'vitest';
import { type EnsembleMember, type MemberOptions, startMember } from '../../src/ensemble/index.js';
import type { MemberConfig, QuorumLimits } from '../../src/ensemble/config.js';

/**
 * An in-process ensemble whose only voter is member 1 (it leads and serves alone), for shell
 * behaviour that needs no second process. `extra` members (observers) may be listed so that a
 * test can speak the quorum protocol to member 1 as one of them.
 */
export function useSoloMember(): (
  opts?: Partial<Omit<MemberOptions, 'config' | 'id' | 'dataDir'>> & {
    extra?: MemberConfig[];
    quorum?: QuorumLimits;
  },
) => Promise<EnsembleMember> {
  let member: EnsembleMember | undefined;
  let dir: string | undefined;
  afterEach(async () => {
    await member?.close();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
    member = undefined;
    dir = undefined;
  });
  return async ({ extra = [], quorum, ...opts } = {}) => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'conclave-solo-'));
    member = await startMember({
      config: {
        members: [{ id: 1, host: '127.0.0.1', clientPort: 0, quorumPort: 0, role: 'voter' }, ...extra],
        tickMs: 100,
        ...(quorum !== undefined ? { quorum } : {}),
      },
      id: 1,
      dataDir: dir,
      ...opts,
      server: { fsync: false, ...opts.server },
    });
    const deadline = Date.now() + 30_000;
    while (!member.serving) {
      if (Date.now() > deadline) throw new Error('the member never served');
      await new Promise((r) => setTimeout(r, 20));
    }
    return member;
  };
}
