import { describe, expect, it } from 'vitest';
import { EventLog } from '../src/backend/event-log.js';
import { MemberTracker } from '../src/backend/member-tracker.js';
import { RateMeter } from '../src/backend/rate-meter.js';
import type { MemberFacts } from '../src/driver/ensemble-driver.js';
import { tolerantJson } from '../src/shared/tolerant-codec.js';
import { DEFAULT_CONFIG } from '../src/shared/view-model.js';
import { sanitizeConfig } from '../src/workers/sanitize-config.js';

const member = (id: number, role: string | null, over: Partial<MemberFacts> = {}): MemberFacts => ({
  id,
  running: role !== null,
  answering: role !== null,
  pid: role !== null ? 1000 + id : null,
  clientPort: 2000 + id,
  role,
  leaderId: null,
  serving: role !== null && role !== 'looking',
  epoch: role !== null ? 1 : null,
  lastZxid: role !== null ? '0x100000001' : null,
  sessions: 0,
  connections: 0,
  znodes: 1,
  isolated: false,
  ...over,
});

describe('MemberTracker', () => {
  it('times a failover from the kill to the first serving leader', () => {
    const log = new EventLog();
    const t = new MemberTracker(log);
    t.update([member(1, 'following'), member(2, 'following'), member(3, 'leading')], 1000);
    expect(t.leaderId).toBe(3);
    t.leaderLostAt(3, 2000);
    t.update([member(1, 'looking'), member(2, 'looking'), member(3, null)], 2100);
    expect(t.leaderId).toBeNull();
    expect(t.noLeaderSinceMs).toBe(2000);
    expect(t.views.find((v) => v.id === 3)?.role).toBe('down');
    // A member that says 'leading' but does not serve yet is not the leader.
    t.update(
      [member(1, 'following', { serving: false }), member(2, 'leading', { serving: false }), member(3, null)],
      2800,
    );
    expect(t.leaderId).toBeNull();
    t.update([member(1, 'following'), member(2, 'leading', { epoch: 2 }), member(3, null)], 3450);
    expect(t.leaderId).toBe(2);
    expect(t.epoch).toBe(2);
    const failover = log
      .recent()
      .filter((e) => e.kind === 'failover')
      .map((e) => e.text);
    expect(failover).toEqual([
      'member 3 leads (epoch 1)',
      'member 3 no longer leads: the ensemble has no leader, writes wait',
      'failover: member 2 leads epoch 2 (was member 3) — no leader for 1.45 s',
    ]);
    expect(log.recent().some((e) => e.text === 'member 3 is down (no answer from its admin endpoint)')).toBe(
      true,
    );
  });
});

describe('RateMeter', () => {
  it('sums per-worker deltas over the window and treats a restarted counter as fresh', () => {
    const m = new RateMeter(5000);
    m.sample(0, [
      ['w1:1', 10],
      ['w2:2', 5],
    ]);
    m.sample(1000, [
      ['w1:1', 20],
      ['w2:2', 15],
    ]); // +20
    m.sample(2000, [
      ['w1:1', 30],
      ['w2:3', 4],
    ]); // w2 restarted (new key): +10 +4
    expect(m.perSecond()).toBeCloseTo(34 / 2, 5);
    m.sample(3000, [
      ['w1:1', 25],
      ['w2:3', 4],
    ]); // a counter going down counts as a fresh start: +25
    expect(m.perSecond()).toBeCloseTo(59 / 3, 5);
    expect(m.total).toBe(15 + 20 + 14 + 25);
  });
});

describe('worker config', () => {
  it('keeps defaults for what it does not understand and clamps the rest', () => {
    expect(sanitizeConfig('not an object')).toEqual(DEFAULT_CONFIG);
    expect(sanitizeConfig({ lockHoldMs: -5, produceEveryMs: 0, consumeWorkMs: 'x', message: 7 })).toEqual({
      ...DEFAULT_CONFIG,
      lockHoldMs: 0,
      produceEveryMs: 20,
    });
  });

  it('decodes bytes that are not JSON to their text instead of throwing', () => {
    const bytes = (s: string) => new TextEncoder().encode(s);
    expect(tolerantJson.decode(bytes('{"a":1}'))).toEqual({ a: 1 });
    expect(tolerantJson.decode(bytes(''))).toBe('');
    expect(tolerantJson.decode(tolerantJson.encode({ b: [1] }))).toEqual({ b: [1] });
  });
});
