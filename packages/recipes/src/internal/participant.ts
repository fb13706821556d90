import { fromUtf8, utf8 } from './codec.js';

/** Who a participant of a LeaderElection is: its `id` and `payload`, stored as its node's data. */
export interface Participant {
  /** The participant's id (given to the LeaderElection constructor). */
  readonly id: string;
  /** Any JSON value the participant published (e.g. its address). */
  readonly payload: unknown;
  /** Its node's name under the election path (queue order = sequence order). */
  readonly node: string;
}

export function encodeParticipant(id: string, payload: unknown): Uint8Array {
  return utf8(JSON.stringify({ id, payload: payload ?? null }));
}

/** Decodes a participant node's data; a node written by something else keeps its raw text as id. */
export function decodeParticipant(node: string, data: Uint8Array): Participant {
  const text = fromUtf8(data);
  try {
    const parsed = JSON.parse(text) as { id?: unknown; payload?: unknown };
    if (parsed !== null && typeof parsed === 'object' && typeof parsed.id === 'string') {
      return { id: parsed.id, payload: parsed.payload ?? null, node };
    }
  } catch {
    // not ours: fall through
  }
  return { id: text, payload: null, node };
}
