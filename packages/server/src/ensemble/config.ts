import { readFile } from 'node:fs/promises';
import { BadArgumentsError } from '@conclave/core';

/** One member of an ensemble, as the ensemble file lists it. */
export interface MemberConfig {
  /** ZooKeeper's `myid`: 1..255 (it is the high byte of the session ids this member creates). */
  id: number;
  host: string;
  /** Port for clients (ws) and the admin endpoint. */
  clientPort: number;
  /** Port for member-to-member (quorum) traffic. */
  quorumPort: number;
  /** Voters elect and ACK; observers only follow (not yet supported by the network shell). */
  role: 'voter' | 'observer';
}

/** The ensemble file: `{ "members": [ { "id": 1, "host": "127.0.0.1", "clientPort": 2181, "quorumPort": 2888, "role": "voter" }, … ] }`. */
export interface EnsembleConfig {
  members: MemberConfig[];
  /** ZooKeeper's tickTime, shared by every member. Default 2000. */
  tickMs?: number;
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
  const v = value as { members?: unknown; tickMs?: unknown };
  if (!Array.isArray(v.members) || v.members.length === 0) throw bad('"members" must be a non-empty array');
  const members: MemberConfig[] = [];
  const ids = new Set<number>();
  const endpoints = new Set<string>();
  for (const [i, m] of v.members.entries()) {
    if (typeof m !== 'object' || m === null) throw bad(`members[${i}] must be an object`);
    const r = m as Record<string, unknown>;
    const id = r.id;
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 1 || id > 255) {
      throw bad(`members[${i}].id must be an integer in 1..255, got ${JSON.stringify(id)}`);
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
  return config;
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
