import { describe, expect, it } from 'vitest';
import { connect } from '../../../client/src/index.js';
import {
  checkLinearizable,
  type HistoryOperation,
  type ZnodeOp,
  type ZnodeResult,
  znodeModel,
} from '../../src/testing/linearizability/index.js';
import { SeededPrng } from '../../src/zab/index.js';
import { useEnsemble } from './fixture.js';

/**
 * Bounded chaos: concurrent clients write and read (sync + get, which must be linearizable)
 * while the leader or a random member is killed, restarted or isolated. The recorded history
 * must be linearizable; every acknowledged write is part of it, so a lost one is a violation.
 */
// Issue #7 asks for about a minute of chaos in CI; a developer's run is shorter unless asked.
const DURATION_MS = Number(process.env.CONCLAVE_CHAOS_MS ?? (process.env.CI ? 60_000 : 20_000));
const SEED = Number(process.env.CONCLAVE_CHAOS_SEED ?? Date.now() % 1_000_000);
// Enough keys that each key's sub-history stays small for the checker's search.
const KEYS = Array.from({ length: 8 }, (_, i) => `/k${i}`);
const enc = new TextEncoder();
const dec = new TextDecoder();

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('chaos: kills, restarts and partitions under concurrent clients', () => {
  const fx = useEnsemble({ size: 3, tickMs: 200, snapshotEveryTxns: 300 });
  const { clients } = fx;

  it(
    `history stays linearizable (seed ${SEED})`,
    async () => {
      const prng = new SeededPrng(SEED);
      const setup = await connect(fx.ens.connectString, { sessionTimeoutMs: 4000 });
      clients.push(setup);
      for (const k of KEYS) await setup.create(k, enc.encode('init'));
      const history: HistoryOperation<ZnodeOp, ZnodeResult>[] = [];
      let nextId = 0;
      const t0 = performance.now();
      const now = () => performance.now() - t0;
      // The keys start as 'init' at version 0: record that as a completed create before everything.
      for (const k of KEYS) {
        history.push({
          id: nextId++,
          clientId: -1,
          input: { op: 'create', path: k, data: 'init' },
          output: { err: 0 },
          call: -2,
          ret: -1,
        });
      }
      let running = true;
      let acked = 0;
      let unknown = 0;
      // Per key: sets acknowledged and sets of unknown outcome. Every set bumps the version by
      // one, so the final version must lie in [acked, acked + unknown]: a direct check for lost
      // acknowledged writes (and for phantom ones) on top of the linearizability check.
      const ackedOn = new Map(KEYS.map((k) => [k, 0]));
      const unknownOn = new Map(KEYS.map((k) => [k, 0]));

      const worker = async (clientId: number) => {
        const c = await connect(fx.ens.connectString, { sessionTimeoutMs: 6000 });
        clients.push(c);
        const rnd = prng.fork();
        for (let i = 0; running && i < 100_000; i++) {
          if (c.state !== 'CONNECTED' && c.state !== 'RECONNECTED') {
            await sleep(20);
            continue;
          }
          const path = KEYS[rnd.nextInt(KEYS.length)]!;
          const isWrite = rnd.chance(0.6);
          const data = `c${clientId}-${i}`;
          const input: ZnodeOp = isWrite ? { op: 'set', path, data, version: -1 } : { op: 'get', path };
          const op: HistoryOperation<ZnodeOp, ZnodeResult> = {
            id: nextId++,
            clientId,
            input,
            output: undefined,
            call: now(),
            ret: Number.POSITIVE_INFINITY,
          };
          history.push(op);
          try {
            if (isWrite) {
              const stat = await c.setData(path, enc.encode(data), { version: -1 });
              op.output = { err: 0, version: stat.version };
              acked++;
              ackedOn.set(path, ackedOn.get(path)! + 1);
            } else {
              await c.sync(path);
              const r = await c.getData(path);
              op.output = { err: 0, data: dec.decode(r.data), version: r.stat.version };
            }
            op.ret = now();
          } catch (err) {
            // CONNECTIONLOSS and friends: the outcome is unknown (a write may still take effect).
            if (!isWrite) history.splice(history.indexOf(op), 1);
            else {
              unknown++;
              unknownOn.set(path, unknownOn.get(path)! + 1);
            }
            void err;
            await sleep(10);
          }
        }
      };

      const chaos = async () => {
        const deadline = Date.now() + DURATION_MS;
        let faults = 0;
        while (Date.now() < deadline) {
          await sleep(1500 + prng.nextInt(1500));
          const down = fx.ens.members.filter((m) => !m.running);
          for (const m of down) await fx.ens.restart(m.id);
          fx.ens.heal();
          await fx.ens.waitForLeader(30_000);
          if (Date.now() >= deadline) break;
          const leader = await fx.ens.leader();
          const pick = prng.nextInt(4);
          const victim =
            pick < 2 && leader !== undefined
              ? leader
              : fx.ens.members[prng.nextInt(fx.ens.members.length)]!.id;
          if (pick % 2 === 0) await fx.ens.kill(victim);
          else fx.ens.isolate(victim);
          faults++;
        }
        for (const m of fx.ens.members.filter((x) => !x.running)) await fx.ens.restart(m.id);
        fx.ens.heal();
        await fx.ens.waitForLeader(30_000);
        return faults;
      };

      const workers = [0, 1, 2].map((id) => worker(id));
      const faults = await chaos();
      // Some progress after the last heal, then stop.
      const ackedAtHeal = acked;
      const progressDeadline = Date.now() + 30_000;
      while (acked < ackedAtHeal + 10 && Date.now() < progressDeadline) await sleep(50);
      running = false;
      await Promise.all(workers);
      expect(acked).toBeGreaterThan(ackedAtHeal);

      // Final linearizable reads of every key.
      const fin = await connect(fx.ens.connectString, { sessionTimeoutMs: 4000 });
      clients.push(fin);
      for (const k of KEYS) {
        const call = now();
        await fin.sync(k);
        const r = await fin.getData(k);
        expect(r.stat.version).toBeGreaterThanOrEqual(ackedOn.get(k)!);
        expect(r.stat.version).toBeLessThanOrEqual(ackedOn.get(k)! + unknownOn.get(k)!);
        history.push({
          id: nextId++,
          clientId: 99,
          input: { op: 'get', path: k },
          output: { err: 0, data: dec.decode(r.data), version: r.stat.version },
          call,
          ret: now(),
        });
      }
      const result = checkLinearizable(znodeModel, history, { timeoutMs: 60_000, maxSteps: 50_000_000 });
      console.log(
        `chaos seed ${SEED}: ${faults} faults in ${DURATION_MS} ms, ${history.length} ops, ${acked} acked writes, ${unknown} unknown; verdict ${result.verdict} (${result.steps} steps)`,
      );
      if (result.verdict === 'violation') console.log(result.explanation);
      expect(result.verdict).toBe('ok');
      // The check has teeth: the same history plus a read of a value nobody wrote is rejected.
      // The read is placed at the start of the run: proving a violation means exhausting every
      // order up to the read, and near the end, with dozens of writes of unknown outcome
      // pending, that space is exponential.
      const first = history.find((o) => o.clientId >= 0)!;
      const tampered = [
        ...history,
        {
          id: nextId++,
          clientId: 98,
          input: { op: 'get', path: KEYS[0]! } as ZnodeOp,
          output: { err: 0, data: 'never-written', version: 1 },
          call: first.call,
          ret: first.call + 0.001,
        },
      ];
      expect(
        checkLinearizable(znodeModel, tampered, { timeoutMs: 60_000, maxSteps: 50_000_000 }).verdict,
      ).toBe('violation');
    },
    DURATION_MS + 150_000,
  );
});
