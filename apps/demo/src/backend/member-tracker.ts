import type { MemberFacts } from '../driver/ensemble-driver.js';
import type { MemberView } from '../shared/view-model.js';
import type { EventLog } from './event-log.js';

const ROLE_NAMES: Record<string, MemberView['role']> = {
  leading: 'leader',
  following: 'follower',
  observing: 'observer',
  looking: 'looking',
  standalone: 'leader',
};

/**
 * Turns successive probes of the members into views and event-log lines: a member going down or
 * coming back, role changes, and failovers — the time from the moment the ensemble lost its leader
 * (the kill, when the demo did it; otherwise the first probe without a serving leader) until a
 * leader serves again.
 */
export class MemberTracker {
  #views: MemberView[] = [];
  #leaderId: number | null = null;
  /** The last member that led (kept through a leaderless gap, to say who was replaced). */
  #lastLeaderId: number | null = null;
  #epoch: number | null = null;
  #noLeaderSinceMs: number | null = null;
  #seenLeader = false;
  /** When the demo killed/isolated the leader itself: a more precise start of the failover. */
  #leaderLostAtMs: number | null = null;
  readonly #busy = new Map<number, string>();

  constructor(private readonly log: EventLog) {}

  get views(): MemberView[] {
    return this.#views.map((v) => ({ ...v, busy: this.#busy.get(v.id) ?? null }));
  }
  get leaderId(): number | null {
    return this.#leaderId;
  }
  get epoch(): number | null {
    return this.#epoch;
  }
  get noLeaderSinceMs(): number | null {
    return this.#noLeaderSinceMs;
  }

  setBusy(id: number, what: string | null): void {
    if (what === null) this.#busy.delete(id);
    else this.#busy.set(id, what);
  }

  /** The demo is about to take the leader away (kill or isolate): time the failover from now. */
  leaderLostAt(id: number, atMs: number): void {
    if (id === this.#leaderId) this.#leaderLostAtMs = atMs;
  }

  update(facts: MemberFacts[], nowMs: number): void {
    const prev = new Map(this.#views.map((v) => [v.id, v]));
    this.#views = facts.map((f) => {
      const role: MemberView['role'] = f.answering ? (ROLE_NAMES[f.role ?? ''] ?? 'looking') : 'down';
      return {
        id: f.id,
        role,
        up: f.running && f.answering,
        serving: f.serving,
        pid: f.pid,
        clientPort: f.clientPort,
        epoch: f.epoch,
        lastZxid: f.lastZxid,
        sessions: f.sessions,
        connections: f.connections,
        znodes: f.znodes,
        isolated: f.isolated,
        busy: null,
      };
    });
    for (const v of this.#views) {
      const before = prev.get(v.id);
      if (before === undefined) continue;
      if (before.up && !v.up)
        this.log.add('member', `member ${v.id} is down (no answer from its admin endpoint)`);
      else if (!before.up && v.up) this.log.add('member', `member ${v.id} is up again (${v.role})`);
      else if (v.up && before.role !== v.role) {
        this.log.add(
          'member',
          `member ${v.id}: ${before.role} → ${v.role}${v.epoch !== null ? ` (epoch ${v.epoch})` : ''}`,
        );
      }
    }
    const leader = facts.find(
      (f) => f.answering && f.serving && (f.role === 'leading' || f.role === 'standalone'),
    );
    const leaderId = leader?.id ?? null;
    if (leaderId === this.#leaderId) {
      this.#epoch = leader?.epoch ?? this.#epoch;
      return;
    }
    const before = this.#leaderId;
    const replaced = this.#lastLeaderId;
    this.#leaderId = leaderId;
    if (leaderId !== null) this.#lastLeaderId = leaderId;
    if (leader === undefined) {
      this.#noLeaderSinceMs = this.#leaderLostAtMs ?? nowMs;
      this.log.add('failover', `member ${before} no longer leads: the ensemble has no leader, writes wait`);
      return;
    }
    this.#epoch = leader.epoch;
    if (!this.#seenLeader) {
      this.#seenLeader = true;
      this.#noLeaderSinceMs = null;
      this.#leaderLostAtMs = null;
      this.log.add('failover', `member ${leaderId} leads (epoch ${leader.epoch})`);
      return;
    }
    const since = this.#noLeaderSinceMs ?? this.#leaderLostAtMs ?? nowMs;
    const seconds = ((nowMs - since) / 1000).toFixed(2);
    this.log.add(
      'failover',
      `failover: member ${leaderId} leads epoch ${leader.epoch}${replaced !== null && replaced !== leaderId ? ` (was member ${replaced})` : ''} — no leader for ${seconds} s`,
    );
    this.#noLeaderSinceMs = null;
    this.#leaderLostAtMs = null;
  }
}
