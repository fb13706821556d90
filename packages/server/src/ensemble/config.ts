import { readFile } from 'node:fs/promises';
import { BadArgumentsError } from '@conclave/core';

/** One member of an ensemble, as the ensemble file lists it. */
export interface MemberConfig {
  /**
   * ZooKeeper's `myid`: 1..254. It is the high byte of the session ids this member creates, and
   * 255 would make those ids negative as signed 64-bit numbers (ZooKeeper's clients read them so).
   */
  id: number;
  host: string;
  /** Port for clients (ws) and the admin endpoint. */
  clientPort: number;
  /** Port for member-to-member (quorum) traffic. */
  quorumPort: number;
  /**
   * `voter` (default) elects and ACKs proposals; `observer` follows the leader, serves clients and
   * forwards their writes, but never votes, so adding observers scales reads without slowing writes.
   */
  role: 'voter' | 'observer';
}

/**
 * Bounds of member-to-member traffic, shared by every member (the sender's chunk size must fit the
 * receiver's bounds). All optional; the defaults suit production.
 */
export interface QuorumLimits {
  /** Bytes queued for one peer (socket buffer, or messages held behind a SNAP stream) before it is dropped as too slow. Default 64 MiB. */
  maxQueuedBytes?: number;
  /** Largest piece of a snapshot in one SNAP stream frame. Default 1 MiB. */
  snapChunkBytes?: number;
  /** Largest snapshot a learner reassembles from a SNAP stream. Default 4 GiB. */
  maxSnapshotBytes?: number;
}

/** The ensemble file: `{ "members": [ { "id": 1, "host": "127.0.0.1", "clientPort": 2181, "quorumPort": 2888, "role": "voter" }, … ] }`. */
export interface EnsembleConfig {
  members: MemberConfig[];
  /** ZooKeeper's tickTime, shared by every member. Default 2000. */
  tickMs?: number;
  /** Quorum transport bounds (optional; see {@link QuorumLimits}). */
  quorum?: QuorumLimits;
}

const bad = (why: string) => new BadArgumentsError(`ensemble config: ${why}`);

function port(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 65535) {
    throw bad(`${what} must be an integer port in 1..65535, got ${JSON.stringify(v)}`);
  }
  return v;
}

/**
 * Validates a parsed ensemble file. Throws BadArgumentsError saying what to fix: a bad member
 * list must stop the process before it joins anything.
 */
export function parseEnsembleConfig(value: unknown): EnsembleConfig {
  if (typeof value !== 'object' || value === null) throw bad('expected an object with a "members" array');
  const v = value as { members?: unknown; tickMs?: unknown; quorum?: unknown };
  if (!Array.isArray(v.members) || v.members.length === 0) throw bad('"members" must be a non-empty array');
  const members: MemberConfig[] = [];
  const ids = new Set<number>();
  const endpoints = new Set<string>();
  for (const [i, m] of v.members.entries()) {
    if (typeof m !== 'object' || m === null) throw bad(`members[${i}] must be an object`);
    const r = m as Record<string, unknown>;
    const id = r.id;
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 1 || id > 254) {
      throw bad(
        `members[${i}].id must be an integer in 1..254 (the high byte of its session ids), got ${JSON.stringify(id)}`,
      );
    }
    if (ids.has(id)) throw bad(`member id ${id} is listed twice`);
    ids.add(id);
    const host = r.host ?? '127.0.0.1';
    if (typeof host !== 'string' || host.length === 0)
      throw bad(`members[${i}].host must be a non-empty string`);
    const role = r.role ?? 'voter';
    if (role !== 'voter' && role !== 'observer') {
      throw bad(`members[${i}].role must be "voter" or "observer", got ${JSON.stringify(role)}`);
    }
    const clientPort = port(r.clientPort, `members[${i}].clientPort`);
    const quorumPort = port(r.quorumPort, `members[${i}].quorumPort`);
    for (const p of [clientPort, quorumPort]) {
      const key = `${host}:${p}`;
      if (endpoints.has(key)) throw bad(`${key} is used twice`);
      endpoints.add(key);
    }
    members.push({ id, host, clientPort, quorumPort, role });
  }
  if (!members.some((m) => m.role === 'voter')) throw bad('at least one member must be a voter');
  const config: EnsembleConfig = { members };
  if (v.tickMs !== undefined) {
    if (typeof v.tickMs !== 'number' || !Number.isInteger(v.tickMs) || v.tickMs < 1) {
      throw bad(`tickMs must be a positive integer, got ${JSON.stringify(v.tickMs)}`);
    }
    config.tickMs = v.tickMs;
  }
  if (v.quorum !== undefined) config.quorum = parseQuorumLimits(v.quorum);
  return config;
}

function parseQuorumLimits(value: unknown): QuorumLimits {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw bad('"quorum" must be an object of byte limits');
  }
  const out: QuorumLimits = {};
  // A chunk below 1 KiB would make a snapshot millions of frames; a bound below a chunk could never drain.
  const min = { maxQueuedBytes: 64 * 1024, snapChunkBytes: 1024, maxSnapshotBytes: 64 * 1024 } as const;
  for (const [k, v] of Object.entries(value)) {
    if (!(k in min)) throw bad(`quorum.${k} is not a known setting (${Object.keys(min).join(', ')})`);
    const key = k as keyof typeof min;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min[key]) {
      throw bad(`quorum.${k} must be an integer number of bytes ≥ ${min[key]}, got ${JSON.stringify(v)}`);
    }
    // A chunk must fit in one quorum frame (256 MiB) with room to spare.
    if (key === 'snapChunkBytes' && v > 64 * 1024 * 1024) {
      throw bad(`quorum.snapChunkBytes must be at most 64 MiB (${64 * 1024 * 1024}), got ${v}`);
    }
    out[key] = v;
  }
  return out;
}

/** Reads and validates an ensemble file (JSON). */
export async function loadEnsembleConfig(file: string): Promise<EnsembleConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw bad(`cannot read ${file}: ${(err as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw bad(`${file} is not valid JSON: ${(err as Error).message}`);
  }
  return parseEnsembleConfig(value);
}

/** The connect string for clients: every member's client endpoint. */
export function connectStringOf(config: EnsembleConfig): string {
  return config.members.map((m) => `${m.host}:${m.clientPort}`).join(',');
}
