import { describe, expect, it } from 'vitest';
import { TwoPhaseCommit } from '../src/index.js';
import { Fixture, useR2Suite, waitFor } from './r2-helpers.js';

const { ts, clients } = useR2Suite();

/** An in-process participant that records what it was told. */
function participant(tpc: TwoPhaseCommit, txId: string, id: string, vote: boolean, log: string[]) {
  return tpc.join(txId, id, {
    prepare: () => vote,
    commit: () => {
      log.push(`${id}:commit`);
    },
    abort: () => {
      log.push(`${id}:abort`);
    },
  });
}

describe('TwoPhaseCommit', () => {
  it('all yes → committed everywhere', async () => {
    const tpc = new TwoPhaseCommit(await clients.connect(ts.connectString), '/r2/tx');
    const log: string[] = [];
    const ids = ['a', 'b', 'c'];
    const parts = await Promise.all(
      ids.map(async () => new TwoPhaseCommit(await clients.connect(ts.connectString), '/r2/tx')),
    );
    const joined = parts.map((p, i) => participant(p, 't1', ids[i]!, true, log));
    expect(await tpc.run('t1', { participants: ids, timeoutMs: 10_000 })).toBe('committed');
    expect(await Promise.all(joined)).toEqual(['committed', 'committed', 'committed']);
    expect(log.sort()).toEqual(['a:commit', 'b:commit', 'c:commit']);
    expect(await tpc.acked('t1')).toEqual(ids);
    // Decided is final: running it again returns the same, and a late join just reports it.
    expect(await tpc.run('t1', { participants: ids, timeoutMs: 10 })).toBe('committed');
    expect(await participant(parts[0]!, 't1', 'a', false, log)).toBe('committed');
    await tpc.remove('t1');
    expect(await tpc.decision('t1')).toBeNull();
  });

  it('one no → aborted everywhere', async () => {
    const c = await clients.connect(ts.connectString);
    const tpc = new TwoPhaseCommit(c, '/r2/tx');
    const log: string[] = [];
    const joined = [participant(tpc, 't2', 'a', true, log), participant(tpc, 't2', 'b', false, log)];
    expect(await tpc.run('t2', { participants: ['a', 'b'], timeoutMs: 10_000 })).toBe('aborted');
    expect(await Promise.all(joined)).toEqual(['aborted', 'aborted']);
    expect(log.sort()).toEqual(['a:abort', 'b:abort']);
  });

  it('a participant killed before voting → abort on timeout; the others abort', async () => {
    const log: string[] = [];
    const tpc = new TwoPhaseCommit(await clients.connect(ts.connectString), '/r2/tx');
    const victim = await Fixture.spawn({
      role: '2pc-participant',
      connectString: ts.connectString,
      basePath: '/r2/tx',
      txId: 't3',
      id: 'victim',
      hangInPrepare: true,
    });
    const running = tpc.run('t3', { participants: ['ok', 'victim'], timeoutMs: 1_500 });
    const ok = participant(tpc, 't3', 'ok', true, log);
    await victim.line((l) => l.event === 'preparing');
    victim.kill('SIGKILL');
    const started = Date.now();
    expect(await running).toBe('aborted');
    expect(await ok).toBe('aborted');
    expect(log).toEqual(['ok:abort']);
    expect(Date.now() - started).toBeLessThan(15_000);
  }, 60_000);

  it('the coordinator killed after deciding → the participants still finish with the decision', async () => {
    const participants = ['p1', 'p2', 'p3'];
    const coordinator = await Fixture.spawn({
      role: '2pc-coordinator',
      connectString: ts.connectString,
      basePath: '/r2/tx',
      txId: 't4',
      participants,
      timeoutMs: 20_000,
      hangAfterDecision: true,
    });
    const log: string[] = [];
    const tpcs = await Promise.all(
      participants.map(async () => new TwoPhaseCommit(await clients.connect(ts.connectString), '/r2/tx')),
    );
    // p1 and p2 vote; p3 votes only after the coordinator process is dead.
    const early = [
      participant(tpcs[0]!, 't4', 'p1', true, log),
      participant(tpcs[1]!, 't4', 'p2', true, log),
    ];
    const observer = await clients.connect(ts.connectString);
    const votes = async () =>
      (await observer.getChildren('/r2/tx/t4/votes').catch(() => ({ children: [] }))).children;
    await waitFor('two votes', async () => (await votes()).length === 2);
    const late = participant(tpcs[2]!, 't4', 'p3', true, log);
    const decided = await coordinator.line<{ event: string; outcome: string }>((l) => l.event === 'decided');
    expect(decided.outcome).toBe('committed');
    coordinator.kill('SIGKILL');
    expect(await Promise.all([...early, late])).toEqual(['committed', 'committed', 'committed']);
    expect(log.sort()).toEqual(['p1:commit', 'p2:commit', 'p3:commit']);
    // A participant that restarts after finishing finds its ack and does not run a handler again.
    expect(await participant(tpcs[0]!, 't4', 'p1', false, log)).toBe('committed');
    expect(log.length).toBe(3);
  }, 60_000);

  it('a participant killed after voting, before the decision, rejoins: no second prepare, it commits', async () => {
    const c = await clients.connect(ts.connectString);
    const tpc = new TwoPhaseCommit(c, '/r2/tx');
    const running = tpc.run('t7', { participants: ['steady', 'crashy'], timeoutMs: 30_000 });
    const spawnCrashy = () =>
      Fixture.spawn({
        role: '2pc-participant',
        connectString: ts.connectString,
        basePath: '/r2/tx',
        txId: 't7',
        id: 'crashy',
      });
    const first = await spawnCrashy();
    await waitFor('crashy voted', async () => (await c.exists('/r2/tx/t7/votes/crashy')) !== null);
    first.kill('SIGKILL');
    await first.exited;
    expect(await tpc.decision('t7')).toBeNull(); // steady has not voted: undecided
    // Back again (a new process, same id), still before the decision.
    const second = await spawnCrashy();
    await second.line((l) => l.event === 'connected');
    const log: string[] = [];
    const steady = participant(tpc, 't7', 'steady', true, log);
    expect(await running).toBe('committed');
    expect(await steady).toBe('committed');
    const outcome = await second.line<{ event: string; outcome: string }>((l) => l.event === 'outcome');
    expect(outcome.outcome).toBe('committed');
    // It found its vote, so it did not prepare again; it ran commit and acked.
    const events = (second.lines as { event?: string }[]).map((l) => l.event);
    expect(events).not.toContain('preparing');
    expect(events).toContain('commit');
    expect(await tpc.acked('t7')).toEqual(['crashy', 'steady']);
  }, 60_000);

  it('a restarted coordinator resumes the transaction it started', async () => {
    const coordinator = await Fixture.spawn({
      role: '2pc-coordinator',
      connectString: ts.connectString,
      basePath: '/r2/tx',
      txId: 't6',
      participants: ['u', 'v'],
      timeoutMs: 30_000,
    });
    const c = await clients.connect(ts.connectString);
    await waitFor('tx created', async () => (await c.exists('/r2/tx/t6/acks')) !== null);
    coordinator.kill('SIGKILL');
    await coordinator.exited;
    const log: string[] = [];
    const tpc = new TwoPhaseCommit(c, '/r2/tx');
    const joined = [participant(tpc, 't6', 'u', true, log), participant(tpc, 't6', 'v', true, log)];
    // The "restarted" coordinator: same txId, same participants.
    expect(await tpc.run('t6', { participants: ['u', 'v'], timeoutMs: 30_000 })).toBe('committed');
    expect(await Promise.all(joined)).toEqual(['committed', 'committed']);
    await expect(tpc.run('t6', { participants: ['u', 'w'], timeoutMs: 1 })).rejects.toMatchObject({
      code: 'BADARGUMENTS',
    });
  }, 60_000);

  it('a coordinator that dies before deciding: participants record abort after deadline + grace', async () => {
    const c = await clients.connect(ts.connectString);
    const tpc = new TwoPhaseCommit(c, '/r2/tx');
    const coordinator = await Fixture.spawn({
      role: '2pc-coordinator',
      connectString: ts.connectString,
      basePath: '/r2/tx',
      txId: 't5',
      participants: ['x', 'y'],
      timeoutMs: 600,
    });
    await coordinator.line((l) => l.event === 'connected');
    await waitFor('tx created', async () => (await c.exists('/r2/tx/t5/acks')) !== null);
    coordinator.kill('SIGKILL');
    const log: string[] = [];
    const outcome = await tpc.join(
      't5',
      'x',
      { prepare: () => true, commit: () => {}, abort: () => void log.push('x:abort') },
      { graceMs: 300 },
    );
    expect(outcome).toBe('aborted');
    expect(await tpc.decision('t5')).toBe('abort');
  }, 60_000);
});
