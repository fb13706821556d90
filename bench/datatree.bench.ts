/**
 * DataTree benchmarks: applied creates / setData / deletes and getData on a tree of 1M znodes
 * (1000 parents × 1000 children, 32-byte values), plus the heap cost per znode.
 * Run: pnpm bench:datatree. Each bench iteration does BATCH ops, so ops/s = hz × BATCH (also printed).
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import { OPEN_ACL_UNSAFE, type Txn, type TxnEntry } from '@conclave/core';
import { afterAll, bench, describe } from 'vitest';
import { Database } from '../packages/server/src/datatree/index.js';

const PARENTS = 1000;
const CHILDREN = 1000;
const BATCH = 1000;
const acl = [...OPEN_ACL_UNSAFE];

function gc(): void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g !== undefined) {
    g();
    return;
  }
  v8.setFlagsFromString('--expose_gc');
  (vm.runInNewContext('gc') as () => void)();
}

const pad = (n: number, w: number): string => String(n).padStart(w, '0');
// Paths arrive from the CBOR decoder as flat strings; a template literal would build a cons-string
// tree several times larger, so flatten them the same way a decoder produces them.
const flat = (s: string): string => Buffer.from(s, 'latin1').toString('latin1');
const childPath = (p: number, c: number): string => flat(`/bench/p${pad(p, 4)}/n${pad(c, 6)}`);

const db = new Database();
let zxid = 0n;
let time = 1_700_000_000_000;
const cversions = new Map<string, number>();
function apply(txn: Txn): void {
  zxid++;
  time++;
  const entry: TxnEntry = { zxid, sessionId: 0n, cxid: 0, time, txn };
  db.apply(entry);
}
function create(path: string, data: Uint8Array): void {
  const parent = path.slice(0, path.lastIndexOf('/')) || '/';
  const cv = (cversions.get(parent) ?? 0) + 1;
  cversions.set(parent, cv);
  apply({ type: 'create', path, data, acl, ephemeralOwner: 0n, parentCVersion: cv });
}
const value = (): Uint8Array => {
  const d = new Uint8Array(32);
  d[0] = time & 0xff;
  return d;
};

gc();
const heapBefore = process.memoryUsage().heapUsed;
const buildStart = performance.now();
const buildCpu = process.cpuUsage();
create('/bench', new Uint8Array(0));
for (let p = 0; p < PARENTS; p++) {
  create(flat(`/bench/p${pad(p, 4)}`), new Uint8Array(0));
  for (let c = 0; c < CHILDREN; c++) create(childPath(p, c), value());
}
const buildMs = performance.now() - buildStart;
const buildCpuUsed = process.cpuUsage(buildCpu);
const buildCpuMs = (buildCpuUsed.user + buildCpuUsed.system) / 1000;
gc();
const heapAfter = process.memoryUsage().heapUsed;
const count = db.tree.nodeCount;
const summary: string[] = [
  `built ${count} znodes by applying create txns in ${(buildMs / 1000).toFixed(1)} s = ${Math.round(count / (buildMs / 1000))} creates/s wall, ${Math.round(count / (buildCpuMs / 1000))} per CPU-second`,
  `heap per znode (32-byte values, held in the heap): ${((heapAfter - heapBefore) / count).toFixed(0)} bytes (heapUsed delta ${(
    (heapAfter - heapBefore) / 1048576
  ).toFixed(0)} MiB for ${count} znodes)`,
];

// The paths a server would get from decoded requests: built up front so the loop times getData only.
const childPaths: string[] = [];
for (const path of db.tree.paths()) if (path.split('/').length === 4) childPaths.push(path);

// Deterministic pseudo-random picks.
let seed = 12345;
const rnd = (n: number): number => {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return seed % n;
};

// Wall time and process CPU time: on a shared 2-core machine the CPU-time rate is the steadier
// number (it is what one core would do undisturbed).
const measured = new Map<string, { ops: number; ms: number; cpuMs: number }>();
/**
 * Times `run` only: `prepare` builds the batch's inputs (the TxnEntry objects a member would get
 * decoded from its log) outside the measured section, so the rate is apply's alone.
 */
function timed<T>(name: string, prepare: () => T, run: (input: T) => number): () => void {
  return () => {
    const input = prepare();
    const t = performance.now();
    const cpu = process.cpuUsage();
    const ops = run(input);
    const used = process.cpuUsage(cpu);
    const m = measured.get(name) ?? { ops: 0, ms: 0, cpuMs: 0 };
    m.ops += ops;
    m.ms += performance.now() - t;
    m.cpuMs += (used.user + used.system) / 1000;
    measured.set(name, m);
  };
}

const entry = (txn: Txn): TxnEntry => {
  zxid++;
  time++;
  return { zxid, sessionId: 0n, cxid: 0, time, txn };
};
const applyAll = (entries: TxnEntry[]): number => {
  for (const e of entries) db.apply(e);
  return entries.length;
};

let created = 0;
let deleted = 0;
const opts = { time: 2000, warmupTime: 300 };

describe(`datatree with ${count} znodes (ops per iteration: ${BATCH})`, () => {
  bench(
    'getData',
    timed(
      'getData',
      () => Array.from({ length: BATCH }, () => childPaths[rnd(PARENTS * CHILDREN)]!),
      (paths) => {
        for (const p of paths) db.tree.getData(p);
        return paths.length;
      },
    ),
    opts,
  );
  bench(
    'apply setData',
    timed(
      'apply setData',
      () => {
        // Distinct paths within a batch, so each txn's version is the node's next one.
        const paths = new Set<string>();
        while (paths.size < BATCH) paths.add(childPaths[rnd(PARENTS * CHILDREN)]!);
        const out: TxnEntry[] = [];
        for (const path of paths) {
          const node = db.tree.getNode(path);
          if (node !== undefined)
            out.push(entry({ type: 'setData', path, data: value(), version: node.version + 1 }));
        }
        return out;
      },
      applyAll,
    ),
    opts,
  );
  bench(
    'apply create',
    timed(
      'apply create',
      () => {
        const out: TxnEntry[] = [];
        for (let i = 0; i < BATCH; i++) {
          created++;
          const parent = `/bench/p${pad(created % PARENTS, 4)}`;
          const cv = (cversions.get(parent) ?? 0) + 1;
          cversions.set(parent, cv);
          const path = flat(`${parent}/x${created}`);
          out.push(
            entry({ type: 'create', path, data: value(), acl, ephemeralOwner: 0n, parentCVersion: cv }),
          );
        }
        return out;
      },
      applyAll,
    ),
    opts,
  );
  bench(
    'apply delete',
    timed(
      'apply delete',
      () => {
        // The original children in order: each exists exactly once (none left after 1M).
        const out: TxnEntry[] = [];
        for (let i = 0; i < BATCH && deleted < childPaths.length; i++) {
          const p = deleted % PARENTS;
          const c = Math.floor(deleted / PARENTS);
          deleted++;
          out.push(entry({ type: 'delete', path: childPaths[p * CHILDREN + c]! }));
        }
        return out;
      },
      applyAll,
    ),
    opts,
  );
});

afterAll(async () => {
  for (const [name, m] of measured) {
    summary.push(
      `${name}: ${Math.round(m.ops / (m.ms / 1000))} ops/s wall, ${Math.round(m.ops / (m.cpuMs / 1000))} ops per CPU-second`,
    );
  }
  // Snapshot cost at this size: capture + encode every chunk, then restore from them.
  const cpuMs = (since: NodeJS.CpuUsage): number => {
    const u = process.cpuUsage(since);
    return Math.round((u.user + u.system) / 1000);
  };
  // serialize() captures the image synchronously (the event loop's pause when a server starts a
  // snapshot); each chunk is then encoded as the snapshot writer pulls it (one pause per chunk).
  gc();
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const image = db.serialize();
  const captureMs = performance.now() - t0;
  const captureCpu = cpuMs(c0);
  const chunks: Uint8Array[] = [];
  let chunkMsMax = 0;
  for (let at = performance.now(), it = image[Symbol.iterator](); ; ) {
    const next = it.next();
    const now = performance.now();
    if (next.done) break;
    chunks.push(next.value);
    chunkMsMax = Math.max(chunkMsMax, now - at);
    at = now;
  }
  const t1 = performance.now();
  const serializeCpu = cpuMs(c0);
  const c1 = process.cpuUsage();
  const restored = await Database.restore(chunks);
  const t2 = performance.now();
  const restoreCpu = cpuMs(c1);
  const mib = (chunks.reduce((n, c) => n + c.length, 0) / 1048576).toFixed(0);
  const same = restored.digest() === db.digest() ? 'equal' : 'DIFFERENT';
  summary.push(
    `snapshot of ${db.tree.nodeCount} znodes (${chunks.length} chunks, ${mib} MiB): ` +
      `serialize ${Math.round(t1 - t0)} ms wall / ${serializeCpu} ms CPU ` +
      `(capture pause ${Math.round(captureMs)} ms wall / ${captureCpu} ms CPU, longest chunk ${chunkMsMax.toFixed(1)} ms), ` +
      `restore ${Math.round(t2 - t1)} ms wall / ${restoreCpu} ms CPU, digest ${same}`,
  );
  summary.push(`digest ${db.digest()} at zxid ${zxid}, ${db.tree.nodeCount} znodes`);
  console.log(`\n${summary.join('\n')}\n`);
});
