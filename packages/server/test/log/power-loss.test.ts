import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BadArgumentsError, makeZxid, zxidEpoch } from '@conclave/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Storage, StorageCorruptionError, nodeFs } from '../../src/log/index.js';
import { assertContiguous, entry, listChunks, listCodec } from './helpers.js';
import { type OpKind, PowerLossFs } from './power-loss-fs.js';

/**
 * Power loss, simulated: unlike kill -9 (crash.test.ts), it loses whatever was not fsynced. The
 * storage runs on a PowerLossFs (so on the write + fdatasync path: O_DSYNC is only used with the
 * real node:fs) through random steps — appends with 1 to 64 in flight, snapshots taken while
 * appends continue (and the purge after each), SNAP jumps, TRUNC, epoch writes — until the power
 * fails at a random call (more often just before an fsync, where the most is pending). The disk is
 * then rebuilt from what was durable plus a random, torn part of what was not, and the next boot
 * must recover a history that
 *   - starts with everything acknowledged (appends, snapshots, truncates), and
 *   - is itself a prefix of what was issued (nothing invented, nothing truncated comes back).
 * Epoch files: at least the last acknowledged value, at most the last requested one.
 * A fifth of the boots may also lose power during recovery itself (a few percent do).
 *
 * Torn writes keep a prefix of their sectors (page-cache writeback goes in file order). With
 * sectors persisted in any order, recovery may instead refuse to start (the weak spot in
 * log/README.md: a later sector without an earlier one looks like damage before a valid record);
 * the second test checks it then refuses, never silently drops what was acknowledged.
 *
 * `CONCLAVE_POWER_LOSS_SEED` replays a run; `CONCLAVE_POWER_LOSS_BOOTS` sets the number of boots.
 */
const BOOTS = Number(process.env.CONCLAVE_POWER_LOSS_BOOTS ?? 200);
const MIN_BOOTS = Math.min(BOOTS, 80);
const BUDGET_MS = 6_000;
const SEGMENT = 4096; // ~35 records: segments roll and get purged all the time

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'conclave-power-'));
});
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const isPrefix = (a: readonly bigint[], b: readonly bigint[]) =>
  a.length <= b.length && a.every((zx, i) => b[i] === zx);
const SYNCS: readonly OpKind[] = ['fsync', 'fdatasync'];

describe('power loss (unsynced writes and directory entries are lost or torn)', () => {
  it('PowerLossFs: what was fsynced survives, the rest may not (a name needs its directory fsynced)', async () => {
    const dir = join(work, 'plfs');
    let roll = 0.5;
    const fs = await PowerLossFs.adopt(nodeFs, dir, { random: () => roll });
    const text = (s: string) => new TextEncoder().encode(s);
    const put = async (name: string, content: string, position: number, flags: string) => {
      const fd = await fs.open(join(dir, name), flags);
      await fs.write(fd, text(content), 0, content.length, position);
      return fd;
    };
    const a = await put('a', 'AAAA', 0, 'wx+');
    await fs.fsync(a);
    const d = await fs.open(dir, 'r');
    await fs.fsync(d); // a's name is durable now
    const b = await put('b', 'BB', 0, 'wx+');
    await fs.fdatasync(b); // b's data, but not its name
    await fs.write(a, text('xy'), 0, 2, 1); // unsynced
    await fs.rename(join(dir, 'b'), join(dir, 'c')); // unsynced
    const decode = (m: Map<string, Uint8Array>) =>
      Object.fromEntries([...m].map(([k, v]) => [k, new TextDecoder().decode(v)]));
    roll = 0.1; // every pending operation lost
    expect(decode(fs.powerLossImage())).toEqual({ a: 'AAAA' });
    roll = 0.5; // every pending operation reached the disk
    expect(decode(fs.powerLossImage())).toEqual({ a: 'AxyA', c: 'BB' });
    await fs.fsync(d);
    roll = 0.1;
    expect(decode(fs.powerLossImage())).toEqual({ a: 'AAAA', c: 'BB' });
    await fs.fdatasync(a);
    expect(decode(fs.powerLossImage())).toEqual({ a: 'AxyA', c: 'BB' });
    for (const fd of [a, b, d]) await fs.close(fd);
  });

  it('keeps every acknowledged append, snapshot, truncate and epoch, on the write + fdatasync path', async () => {
    await powerLossRun('prefix');
  }, 120_000);

  it('with sectors persisted out of order, never silently: recovers all that was acknowledged or refuses to start', async () => {
    // The known weak spot (log/README.md): a later sector of a torn batch without an earlier one
    // looks like damage before a valid record. Recovery must then refuse, never drop data.
    await powerLossRun('any');
  }, 120_000);
});

async function powerLossRun(tear: 'prefix' | 'any') {
  const seed = Number(process.env.CONCLAVE_POWER_LOSS_SEED ?? Date.now() % 1_000_000);
  const random = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  // The history: `lower` must be a prefix of what recovery returns, which must be a prefix of `upper`.
  let lower: bigint[] = [];
  let upper: bigint[] = [];
  const epochs = {
    acceptedEpoch: { lo: 0, hi: 0 },
    currentEpoch: { lo: 0, hi: 0 },
  };
  let image: PowerLossFs | undefined;
  const stats = { boots: 0, cuts: 0, cutsInRecovery: 0, refusals: 0, acked: 0, recovered: 0, calls: 0 };
  const started = performance.now();

  for (let boot = 0; boot < BOOTS; boot++) {
    if (boot >= MIN_BOOTS && performance.now() - started > BUDGET_MS) break;
    stats.boots++;
    const dir = join(work, `${tear}-boot-${boot}`);
    if (image) {
      await image.writePowerLossImage(dir);
      await rm(image.dir, { recursive: true, force: true });
    } else {
      await mkdir(dir);
    }
    // `soon`: calls left in which the power fails more often, set right after a snapshot is
    // acknowledged (until the next directory fsync its rename is all that keeps it).
    const armed = { on: random() < 0.2, soon: 0 };
    const fs: PowerLossFs = await PowerLossFs.adopt(nodeFs, dir, {
      random,
      tear,
      cut: (kind) => armed.on && random() < (armed.soon-- > 0 ? 0.2 : SYNCS.includes(kind) ? 0.12 : 0.01),
    });
    image = fs;
    const context = () => `tear ${tear}, seed ${seed}, boot ${boot}`;

    let storage: Storage | undefined;
    try {
      // Few snapshots kept: purge deletes snapshots and segments often. Many: a new snapshot often
      // deletes nothing, so until the next directory fsync only its own makes its rename durable.
      const snapshotsToKeep = pick([1, 2, 3, 8]);
      storage = await Storage.open({ dir, fs, segmentBytes: SEGMENT, snapshotsToKeep });
      const { state, lastZxid } = await storage.recover(listCodec);
      const got = state.zxids;
      assertContiguous(got);
      if (!isPrefix(lower, got)) {
        throw new Error(
          `${context()}: acknowledged history lost: recovered up to ${got[got.length - 1] ?? 0n} (${got.length} txns), acknowledged up to ${lower[lower.length - 1]} (${lower.length}); notes: ${storage.notes.join(' | ')}; files: ${(await readdir(dir)).join(' ')}`,
        );
      }
      if (!isPrefix(got, upper)) {
        throw new Error(`${context()}: recovered txns that were never issued or were truncated`);
      }
      expect(lastZxid, context()).toBe(got[got.length - 1] ?? 0n);
      const read = await storage.readEpochs();
      for (const name of ['acceptedEpoch', 'currentEpoch'] as const) {
        expect(read[name], `${context()} ${name}`).toBeGreaterThanOrEqual(epochs[name].lo);
        expect(read[name], `${context()} ${name}`).toBeLessThanOrEqual(epochs[name].hi);
        epochs[name] = { lo: read[name], hi: read[name] };
      }
      lower = [...got];
      upper = [...got];
      stats.recovered = got.length;
    } catch (err) {
      if (
        tear === 'any' &&
        err instanceof StorageCorruptionError &&
        /valid records follow/.test(err.message)
      ) {
        // The documented refusal: start over on an empty disk.
        stats.refusals++;
        await storage?.close().catch(() => {});
        image = undefined;
        lower = [];
        upper = [];
        epochs.acceptedEpoch = { lo: 0, hi: 0 };
        epochs.currentEpoch = { lo: 0, hi: 0 };
        await rm(dir, { recursive: true, force: true });
        continue;
      }
      if (!fs.poweredOff) {
        // The checks above name the seed themselves; the storage's own errors do not.
        if (err instanceof StorageCorruptionError)
          throw new Error(`${context()}: ${err.message}`, { cause: err });
        throw err;
      }
      // The power failed during recovery itself: nothing changes in the model.
      stats.cutsInRecovery++;
      await storage?.close().catch(() => {});
      continue;
    }
    armed.on = true;

    // Random steps until the power fails (or, rarely, a forced cut at a quiet moment).
    let appendEpoch = Math.max(zxidEpoch(upper[upper.length - 1] ?? 0n), epochs.currentEpoch.hi, 1);
    const tip = () => upper[upper.length - 1] ?? 0n;
    const nextZxid = () => (zxidEpoch(tip()) === appendEpoch ? tip() + 1n : makeZxid(appendEpoch, 1));
    try {
      for (let step = 0; step < 60 && !fs.poweredOff; step++) {
        const kind = random();
        if (kind < 0.6) {
          const count = 1 + Math.floor(random() * 60);
          const inFlight = pick([1, 8, 64]);
          const snapshotToo = lower.length > 0 && random() < 0.3;
          const work: Promise<void>[] = [];
          if (snapshotToo) {
            // A snapshot of the acknowledged state, written while the appends below continue.
            const img = [...lower];
            work.push(
              storage.snapshot(img[img.length - 1]!, listChunks(img)).then(() => {
                armed.soon = 10;
              }),
            );
          }
          let issued = 0;
          const appender = async () => {
            while (issued < count) {
              issued++;
              const zxid = nextZxid();
              upper.push(zxid);
              await storage!.append(entry(zxid));
              stats.acked++;
              // Acknowledged, so durable; and so is every append issued before it.
              const at = upper.indexOf(zxid);
              if (at + 1 > lower.length) lower = upper.slice(0, at + 1);
            }
          };
          for (let i = 0; i < inFlight; i++) work.push(appender());
          await settleAll(work);
        } else if (kind < 0.7) {
          // ZAB's epoch change: acceptedEpoch, then currentEpoch, then txns of the new epoch.
          const epoch = Math.max(epochs.acceptedEpoch.hi, appendEpoch) + 1;
          epochs.acceptedEpoch.hi = epoch;
          await storage.writeAcceptedEpoch(epoch);
          epochs.acceptedEpoch.lo = epoch;
          epochs.currentEpoch.hi = epoch;
          await storage.writeCurrentEpoch(epoch);
          epochs.currentEpoch.lo = epoch;
          appendEpoch = epoch;
        } else if (kind < 0.8) {
          // SNAP sync: the state jumps ahead by txns this log never saw.
          if (upper.length === 0) continue;
          const extra = 1 + Math.floor(random() * 30);
          const jumped = [...upper];
          for (let i = 0; i < extra; i++) jumped.push(nextZxidAfter(jumped, appendEpoch));
          upper = jumped;
          await storage.snapshot(jumped[jumped.length - 1]!, listChunks(jumped));
          armed.soon = 10;
          lower = [...jumped];
        } else if (kind < 0.9) {
          // TRUNC to a recent point of the history; later txns come in a new epoch, so a
          // truncated txn that came back would show.
          if (lower.length === 0) continue;
          const target = lower[Math.max(0, lower.length - 1 - Math.floor(random() * 120))]!;
          const before = lower;
          lower = lower.filter((zx) => zx <= target);
          try {
            await storage.truncate(target);
          } catch (err) {
            if (!(err instanceof BadArgumentsError)) throw err;
            lower = before; // refused: below the oldest snapshot (needs SNAP)
            continue;
          }
          upper = [...lower];
          appendEpoch = Math.max(epochs.acceptedEpoch.hi, appendEpoch) + 1;
        } else {
          const img = [...lower];
          if (img.length > 0) await storage.snapshot(img[img.length - 1]!, listChunks(img));
          armed.soon = 10;
        }
      }
    } catch (err) {
      if (!fs.poweredOff) throw new Error(`${context()}: ${(err as Error).stack}`);
    }
    if (!fs.poweredOff) fs.poweredOff = true;
    else stats.cuts++;
    stats.calls += fs.calls;
    await storage.close().catch(() => {});
  }
  if (image) await rm(image.dir, { recursive: true, force: true });
  if (process.env.POWER_LOSS_DEBUG) console.log(tear, seed, stats);
  expect(stats.boots).toBeGreaterThanOrEqual(MIN_BOOTS);
  expect(stats.cuts).toBeGreaterThan(stats.boots / 2);
  expect(stats.acked).toBeGreaterThan(stats.boots * 5);
  return stats;
}

/** The zxid after the end of `zxids`, in `epoch` (counter 1 when the epoch is new). */
function nextZxidAfter(zxids: readonly bigint[], epoch: number): bigint {
  const last = zxids[zxids.length - 1] ?? 0n;
  return zxidEpoch(last) === epoch ? last + 1n : makeZxid(epoch, 1);
}

/** Waits for every promise; rethrows the first failure once all have settled. */
async function settleAll(work: Promise<unknown>[]): Promise<void> {
  const results = await Promise.allSettled(work);
  for (const r of results) if (r.status === 'rejected') throw r.reason;
}
