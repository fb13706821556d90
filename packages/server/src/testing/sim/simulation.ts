import { SeededPrng } from '../../zab/prng.js';
import type { ZabFault, ZabTimingConfig } from '../../zab/types.js';
import type { ZnodeOp, ZnodeOperation, ZnodeResult } from '../linearizability/index.js';
import { checkLinearizable, znodeModel } from '../linearizability/index.js';
import { dbStateMachineFactory, dbStateMachineFactoryWith } from './db-machine.js';
import {
  isSessionOp,
  SIM_SESSION_TIMEOUT_TICKS,
  SIM_SESSIONEXPIRED,
  type SessionOp,
  type SimCreateMode,
  type SimEntry,
  type SimOp,
} from './entry.js';
import { EventQueue } from './event-queue.js';
import { entryKey, kvStateMachineFactory } from './kv-machine.js';
import {
  type NetMsg,
  type ReadReply,
  type SimLogConfig,
  SimMember,
  type SimShellFault,
  type WriteReply,
} from './member.js';
import { SimNetwork } from './network.js';

export interface SimConfig {
  seed: number;
  /** Voters. */
  nodes: number;
  observers?: number;
  /** Time units of chaos (faults injected, clients running). Default 4000. */
  chaosUnits?: number;
  /** Upper bound on the quiet phase that must end with all members converged. Default 6000. */
  settleUnits?: number;
  clients?: number;
  /** Inject network/disk/crash faults. Default true. Scenario tests drive faults by hand. */
  chaos?: boolean;
  /** Deliberate protocol bugs (tests that prove the checks bite). */
  faults?: ZabFault[];
  keys?: number;
  maxCommittedLogEntries?: number;
  maxZxidCounter?: number;
  /** Keep a trace of events (printed with a failure). */
  trace?: boolean;
  /**
   * 'kv': a small znode store deciding outcomes at apply time. 'database': the server's Database
   * with leader-side prep (Preparer), as the real server runs it. Default 'kv'.
   */
  stateMachine?: 'kv' | 'database';
  /** Time budget for the linearizability check, ms. Default 5000. */
  checkTimeoutMs?: number;
  /** Overrides of {@link SIM_TIMING}. */
  timing?: Partial<ZabTimingConfig>;
  /** Deliberate shell bugs (break the README's duty order). */
  shellFaults?: SimShellFault[];
  /**
   * How members use their durable log (setLogStart + `fromLog` streams, local snapshots + purge).
   * Unset fields are chosen from the seed ({@link logConfigForSeed}), so every mode runs.
   */
  log?: Partial<SimLogConfig>;
}

export interface SimResult {
  ok: boolean;
  seed: number;
  nodes: number;
  observers: number;
  failures: string[];
  notes: string[];
  repro: string;
  stats: {
    committed: number;
    writesOk: number;
    writesUnknown: number;
    syncReads: number;
    plainReads: number;
    leaderChanges: number;
    crashes: number;
    partitions: number;
    snapSyncs: number;
    truncSyncs: number;
    diffSyncs: number;
    endTime: number;
    linearizability: string;
    /** Session-namespace creates acknowledged: ephemeral, sequential (both count a multi's parts). */
    ephemeralsCreated: number;
    sequentialCreated: number;
    /** Sessions closed by their client and sessions the leader expired (closeSession applied). */
    sessionsClosed: number;
    sessionsExpired: number;
    /** Containers created by clients and deleted by the leader once emptied. */
    containersCreated: number;
    containersReaped: number;
    /** DIFF/TRUNC syncs streamed partly from a leader's durable log, and their entries. */
    logSyncs: number;
    logSyncEntries: number;
    /** Log streams the disk could not produce (connection broken, learner retried). */
    logSyncFailures: number;
    /** Members' own periodic snapshots, and restarts that recovered from one. */
    localSnapshots: number;
    restartsFromOwnSnapshot: number;
  };
  trace: string[];
}

interface PlainRead {
  clientId: number;
  path: string;
  result: ZnodeResult;
  zxid: bigint;
  lastWriteZxid: bigint;
}

/** An acknowledged session-namespace create: what the client was told it made. */
interface AckedCreate {
  clientId: number;
  session: bigint;
  zxid: bigint;
  path: string;
  ephemeral: boolean;
  sequential: boolean;
  container: boolean;
}

/** The timing every simulated member uses (ticks). */
export const SIM_TIMING: ZabTimingConfig = {
  electionTimeoutTicks: 4,
  finalizeWaitTicks: 1,
  initLimitTicks: 10,
  syncLimitTicks: 5,
  heartbeatTicks: 1,
};

/** Nominal time units per tick; each member's real period is skewed around it. */
const TICK_UNITS = 10;

/**
 * A deterministic ensemble: N voters (+ observers) driven by one seeded PRNG through a simulated
 * network, disks and clients. {@link run} runs chaos then a quiet settle phase and checks safety.
 * Scenario tests drive the same object by hand (partition, crash, runFor...).
 */
export class Simulation {
  readonly config: Required<Omit<SimConfig, 'maxZxidCounter' | 'timing' | 'log'>> & {
    maxZxidCounter: number | undefined;
    timing: ZabTimingConfig;
  };
  readonly prng: SeededPrng;
  readonly queue = new EventQueue();
  readonly network: SimNetwork<NetMsg>;
  readonly members: SimMember[] = [];
  readonly ids: number[];
  readonly failures: string[] = [];
  readonly notes: string[] = [];
  readonly trace: string[] = [];
  private readonly chaosPrng: SeededPrng;
  private readonly globalDigest = new Map<bigint, string>();
  private readonly globalEntry = new Map<bigint, SimEntry>();
  private readonly delivered = new Map<bigint, string>();
  readonly history: ZnodeOperation[] = [];
  private readonly plainReads: PlainRead[] = [];
  private readonly ackedCreates: AckedCreate[] = [];
  /** Sessions a client asked to close (the rest of the closed ones expired). */
  private readonly clientClosed = new Set<bigint>();
  private nextOpId = 0;
  private clientsActive = true;
  private lastLeader: number | undefined;
  readonly stats: SimResult['stats'] = {
    committed: 0,
    writesOk: 0,
    writesUnknown: 0,
    syncReads: 0,
    plainReads: 0,
    leaderChanges: 0,
    crashes: 0,
    partitions: 0,
    snapSyncs: 0,
    truncSyncs: 0,
    diffSyncs: 0,
    endTime: 0,
    linearizability: 'not run',
    ephemeralsCreated: 0,
    sequentialCreated: 0,
    sessionsClosed: 0,
    sessionsExpired: 0,
    containersCreated: 0,
    containersReaped: 0,
    logSyncs: 0,
    logSyncEntries: 0,
    logSyncFailures: 0,
    localSnapshots: 0,
    restartsFromOwnSnapshot: 0,
  };
  /** The log modes every member runs with (per member: snapshot intervals differ). */
  readonly logConfigs: SimLogConfig[] = [];

  constructor(config: SimConfig) {
    this.config = {
      observers: 0,
      chaosUnits: 4000,
      settleUnits: 6000,
      clients: 4,
      chaos: true,
      faults: [],
      shellFaults: [],
      keys: 3,
      maxCommittedLogEntries: 30,
      trace: false,
      stateMachine: 'kv',
      checkTimeoutMs: 5000,
      ...config,
      maxZxidCounter: config.maxZxidCounter,
      timing: { ...SIM_TIMING, ...config.timing },
    };
    const c = this.config;
    this.prng = new SeededPrng(c.seed);
    this.chaosPrng = this.prng.fork();
    const netPrng = this.prng.fork();
    this.network = new SimNetwork<NetMsg>(
      this.queue,
      netPrng,
      { dropRate: 0, duplicateRate: 0, reorderRate: 0, minDelay: 1, maxDelay: 6 },
      (to, msg) => this.members[to - 1]?.deliver(msg),
    );
    const voters = Array.from({ length: c.nodes }, (_, i) => i + 1);
    const observers = Array.from({ length: c.observers }, (_, i) => c.nodes + i + 1);
    this.ids = [...voters, ...observers];
    const diskPrng = this.prng.fork();
    // Its own stream, so choosing log modes leaves every other random choice of the seed as it was.
    const logPrng = new SeededPrng((c.seed ^ 0x5eed10c) >>> 0);
    const logBase = { ...logConfigForSeed(logPrng), ...config.log };
    // Streaming from the log matters once learners fall behind the in-memory window: narrow it.
    const window =
      config.maxCommittedLogEntries ??
      (logBase.serveFromLog ? 4 + logPrng.nextInt(27) : c.maxCommittedLogEntries);
    for (const id of this.ids) {
      const own: SimLogConfig = {
        ...logBase,
        snapshotEvery: logBase.snapshotEvery > 0 ? logBase.snapshotEvery + logPrng.nextInt(10) : 0,
        ...config.log,
      };
      this.logConfigs.push(own);
      const skew = c.chaos ? this.prng.nextInt(5) - 2 : 0;
      this.members.push(
        new SimMember(
          id,
          voters,
          observers,
          c.timing,
          this.prng.fork(),
          {
            queue: this.queue,
            network: this.network,
            factory:
              c.stateMachine === 'database'
                ? dbStateMachineFactoryWith(!c.shellFaults.includes('skipSessionCheck'))
                : kvStateMachineFactory,
            onApply: (m, e, d, del) => this.onApply(m, e, d, del),
            onEvent: (m, text) => this.onEvent(m, text),
            diskDelay: (member) => (1 + diskPrng.nextInt(3)) * member.disk.slowFactor,
            shellFaults: c.shellFaults,
          },
          c.faults,
          window,
          c.maxZxidCounter,
          TICK_UNITS + skew,
          own,
        ),
      );
    }
  }

  get now(): number {
    return this.queue.now;
  }

  member(id: number): SimMember {
    const m = this.members[id - 1];
    if (m === undefined) throw new Error(`no member ${id}`);
    return m;
  }

  /** Every member that believes it leads and serves (two, briefly, around a partition). */
  servingLeaders(): SimMember[] {
    return this.members.filter((m) => m.node?.role === 'leading' && m.serving);
  }

  /** The member that leads and serves, if exactly one does. */
  leader(): SimMember | undefined {
    const ls = this.members.filter((m) => m.node?.role === 'leading' && m.serving);
    return ls.length === 1 ? ls[0] : undefined;
  }

  runFor(units: number): void {
    const until = this.queue.now + units;
    while (this.queue.runNext(until)) {
      if (this.failures.length > 50) break;
    }
    this.queue.now = Math.max(this.queue.now, until);
  }

  /** Runs until `pred` holds (checked every 10 units) or `maxUnits` pass. */
  runUntil(pred: () => boolean, maxUnits: number): boolean {
    const end = this.queue.now + maxUnits;
    while (this.queue.now < end) {
      if (pred()) return true;
      this.runFor(10);
    }
    return pred();
  }

  /** Kills a member; it keeps a random prefix of its un-fsynced writes (none with `loseAllStaged`). */
  crash(id: number, loseAllStaged = false): void {
    this.stats.crashes++;
    this.member(id).crash(this.chaosPrng, loseAllStaged);
    this.onEvent(id, 'CRASH');
  }

  restart(id: number): void {
    this.member(id).restart();
    this.onEvent(id, 'RESTART');
  }

  /**
   * A scripted client write through member `via` (scenario tests): recorded in the history like the
   * random clients' writes; the handle fills in when the member answers.
   */
  invokeWrite(via: number, op: SimOp, clientId = 0): { done: boolean; reply?: WriteReply } {
    const handle: { done: boolean; reply?: WriteReply } = { done: false };
    const id = this.nextOpId++;
    const call = this.queue.now;
    this.member(via).clientWrite({ kind: 'op', clientId, reqId: id, op }, (reply) => {
      handle.done = true;
      handle.reply = reply;
      if (reply.ok && !isSessionOp(op)) this.recordAnswered(id, clientId, op, reply.result, call);
    });
    return handle;
  }

  /** A scripted sync+read through member `via`, recorded in the history when it succeeds. */
  invokeSyncRead(via: number, path: string, clientId = 0): { done: boolean; reply?: ReadReply } {
    const handle: { done: boolean; reply?: ReadReply } = { done: false };
    const id = this.nextOpId++;
    const call = this.queue.now;
    this.member(via).clientSyncRead(path, (reply) => {
      handle.done = true;
      handle.reply = reply;
      if (reply.ok) this.recordAnswered(id, clientId, { op: 'get', path }, reply.result, call);
    });
    return handle;
  }

  /** Records a client call answered now, for the linearizability check. */
  private recordAnswered(
    id: number,
    clientId: number,
    input: ZnodeOp,
    output: ZnodeResult | undefined,
    call: number,
  ): void {
    this.history.push({ id, clientId, input, output, call, ret: this.queue.now });
  }

  /** Everything committed everywhere and all members serving the same state. */
  converged(): boolean {
    const live = this.members.filter((m) => !m.crashed);
    if (live.length !== this.members.length) return false;
    const leader = this.leader();
    if (leader === undefined) return false;
    const node = leader.node!;
    if (node.committedZxid !== node.lastZxid) return false;
    for (const m of live) {
      if (!m.serving || m.node!.leaderId !== leader.id || m.sm.lastZxid !== node.lastZxid) return false;
    }
    return true;
  }

  private onApply(member: number, e: SimEntry, digest: string, delivered: boolean): void {
    const z = e.zxid;
    const seen = this.globalDigest.get(z);
    if (seen === undefined) {
      this.globalDigest.set(z, digest);
      this.globalEntry.set(z, e);
    } else if (seen !== digest) {
      const other = this.globalEntry.get(z)!;
      this.fail(
        `divergence at zxid ${z.toString(16)} on member ${member}: digests differ ` +
          `(${entryKey(e) === entryKey(other) ? 'same txn, different history before it' : `${entryKey(e)} vs ${entryKey(other)}`})`,
      );
    }
    if (closedSession(e) !== undefined || (e.kind === 'op' && isSessionOp(e.op)) || e.kind === 'txn') {
      this.checkEphemeralOwners(member, e);
    }
    if (delivered) {
      if (!this.delivered.has(z)) this.stats.committed++;
      this.delivered.set(z, digest);
    }
  }

  /**
   * After a closeSession or a session-namespace create: no ephemeral on this member is owned by a
   * session its state does not hold (none outlives its session, none is born to a dead one).
   */
  private checkEphemeralOwners(member: number, e: SimEntry): void {
    const sm = this.members[member - 1]?.sm;
    if (sm === undefined) return;
    const live = new Set(sm.sessions());
    for (const [path, owner] of sm.ephemerals()) {
      if (!live.has(owner)) {
        this.fail(
          `ephemeral ${path} of session ${owner} outlives its session on member ${member} ` +
            `(after zxid ${e.zxid.toString(16)})`,
        );
        return;
      }
    }
  }

  private onEvent(member: number, text: string): void {
    if (text.startsWith('ERROR')) this.fail(`member ${member}: ${text.slice(6)}`);
    if (text.includes('via snap')) this.stats.snapSyncs++;
    if (text.includes('via trunc')) this.stats.truncSyncs++;
    if (text.includes('via diff')) this.stats.diffSyncs++;
    if (text.startsWith('established')) {
      if (this.lastLeader !== member) this.stats.leaderChanges++;
      this.lastLeader = member;
    }
    if (this.config.trace) {
      this.trace.push(`${String(this.queue.now).padStart(6)} n${member} ${text}`);
      if (this.trace.length > 4000) this.trace.splice(0, 1000);
    }
  }

  private fail(text: string): void {
    if (!this.failures.includes(text)) this.failures.push(text);
  }

  // -----------------------------------------------------------------------------------------------
  // Clients

  private startClients(): void {
    for (let c = 1; c <= this.config.clients; c++) this.startClient(c, this.prng.fork());
  }

  private startClient(clientId: number, rnd: SeededPrng): void {
    const keys = Array.from({ length: this.config.keys }, (_, i) => `/k${i}`);
    // A client runs one session at a time; a closed or expired one is replaced by a fresh id.
    let generation = 0;
    let sessionId = sessionIdFor(clientId, generation);
    let memberId = this.ids[rnd.nextInt(this.ids.length)]!;
    let lastSeenZxid = 0n;
    let lastWriteZxid = 0n;
    let reqId = 0;
    let sessionCreated = false;
    let ephemeralCounter = 0;
    const timeout = 400;
    const newSession = () => {
      generation++;
      sessionId = sessionIdFor(clientId, generation);
      sessionCreated = false;
    };

    const next = (failed: boolean) => {
      if (!this.clientsActive) return;
      if (failed) memberId = this.ids[rnd.nextInt(this.ids.length)]!;
      // A long pause outlives the session timeout: the leader expires the session.
      const pause = rnd.chance(0.015) ? 600 : rnd.nextInt(30);
      this.queue.schedule(this.queue.now + pause, issue);
    };

    const issue = () => {
      if (!this.clientsActive) return;
      const m = this.member(memberId);
      if (m.crashed) return next(true);
      if (!sessionCreated && m.serving) {
        m.forward({ kind: 'createSession', sessionId, timeoutTicks: SIM_SESSION_TIMEOUT_TICKS });
        sessionCreated = true;
      } else if (sessionCreated && m.serving && rnd.chance(0.01)) {
        // An explicit close: its ephemerals must go with it, on every member.
        m.forward({ kind: 'closeSession', sessionId });
        this.clientClosed.add(sessionId);
        newSession();
        return next(false);
      }
      m.touch(sessionId);
      const r = rnd.nextFloat();
      const call = this.queue.now;
      let answered = false;
      const deliverLater = (fn: () => void) => {
        this.queue.schedule(this.queue.now + 1 + rnd.nextInt(3), () => {
          if (answered) return;
          answered = true;
          fn();
        });
      };
      if (r < 0.5) {
        const op: SimOp =
          rnd.chance(0.3) && sessionCreated
            ? this.randomSessionOp(rnd, clientId, sessionId, () => ephemeralCounter++)
            : this.randomWrite(rnd, keys, clientId, reqId);
        const opSession = sessionId;
        const id = this.nextOpId++;
        const myReq = reqId++;
        this.queue.schedule(call + timeout, () => {
          if (answered) return;
          answered = true;
          if (!isSessionOp(op)) {
            this.history.push({ id, clientId, input: op, output: undefined, call, ret: Infinity });
          }
          this.stats.writesUnknown++;
          next(true);
        });
        m.clientWrite({ kind: 'op', clientId, reqId: myReq, op }, (reply: WriteReply) =>
          deliverLater(() => {
            if (reply.ok) {
              if (isSessionOp(op)) {
                this.recordSessionOp(clientId, opSession, op, reply);
                if (reply.result?.err === SIM_SESSIONEXPIRED && opSession === sessionId) newSession();
              } else {
                this.recordAnswered(id, clientId, op, reply.result, call);
              }
              this.stats.writesOk++;
              if (reply.zxid > lastSeenZxid) lastSeenZxid = reply.zxid;
              lastWriteZxid = reply.zxid;
            }
            next(!reply.ok);
          }),
        );
      } else if (r < 0.75) {
        const path = keys[rnd.nextInt(keys.length)]!;
        const reply = m.clientRead(path, lastSeenZxid);
        if (reply.ok) {
          this.plainReads.push({ clientId, path, result: reply.result, zxid: reply.zxid, lastWriteZxid });
          this.stats.plainReads++;
          lastSeenZxid = reply.zxid;
        }
        answered = true;
        next(!reply.ok);
      } else {
        const path = keys[rnd.nextInt(keys.length)]!;
        const id = this.nextOpId++;
        this.queue.schedule(call + timeout, () => {
          if (answered) return;
          answered = true;
          next(true);
        });
        m.clientSyncRead(path, (reply: ReadReply) =>
          deliverLater(() => {
            if (reply.ok) {
              this.recordAnswered(id, clientId, { op: 'get', path }, reply.result, call);
              this.stats.syncReads++;
              if (reply.zxid > lastSeenZxid) lastSeenZxid = reply.zxid;
            }
            next(!reply.ok);
          }),
        );
      }
    };
    this.queue.schedule(this.queue.now + rnd.nextInt(50), issue);
  }

  /**
   * A session-namespace write: ephemeral and sequential creates (as a lock or a queue recipe
   * makes them), alone or in a multi. Their parents `/e` and `/q` are created now and then (a
   * persistent create, checked for linearizability like any other).
   */
  private randomSessionOp(rnd: SeededPrng, clientId: number, session: bigint, nextName: () => number): SimOp {
    const r = rnd.nextFloat();
    const data = `c${clientId}`;
    const create = (path: string, mode: SimCreateMode) => ({
      op: 'screate' as const,
      path,
      data,
      mode,
      session,
    });
    if (r < 0.06) return { op: 'create', path: rnd.chance(0.5) ? '/e' : '/q', data: '' };
    // Containers (a lock recipe's parent): created on demand, reaped by the leader once emptied.
    if (r < 0.12) return create(`/c${rnd.nextInt(3)}`, 'container');
    if (r < 0.3) return create(`/e/c${clientId}-${nextName()}`, 'ephemeral');
    if (r < 0.45) return create(`/c${rnd.nextInt(3)}/m-`, 'ephemeralSequential');
    if (r < 0.6) return create('/q/lock-', 'ephemeralSequential');
    if (r < 0.8) return create('/q/job-', 'persistentSequential');
    return {
      op: 'smulti',
      ops: [create(`/e/c${clientId}-${nextName()}`, 'ephemeral'), create('/q/lock-', 'ephemeralSequential')],
    };
  }

  private recordSessionOp(
    clientId: number,
    session: bigint,
    op: SessionOp,
    reply: WriteReply & { ok: true },
  ): void {
    const created = reply.result?.created;
    if (reply.result?.err !== 0 || created === undefined) return;
    if (op.op === 'reap') return;
    const creates = op.op === 'smulti' ? op.ops : [op];
    if (created.length !== creates.length) {
      this.fail(`a ${op.op} of ${creates.length} creates reported ${created.length} paths`);
      return;
    }
    creates.forEach((c, i) => {
      const ephemeral = c.mode === 'ephemeral' || c.mode === 'ephemeralSequential';
      const sequential = c.mode === 'ephemeralSequential' || c.mode === 'persistentSequential';
      if (c.mode === 'container') this.stats.containersCreated++;
      if (ephemeral) this.stats.ephemeralsCreated++;
      if (sequential) this.stats.sequentialCreated++;
      this.ackedCreates.push({
        clientId,
        session,
        zxid: reply.zxid,
        path: created[i]!,
        ephemeral,
        sequential,
        container: c.mode === 'container',
      });
    });
  }

  private randomWrite(rnd: SeededPrng, keys: string[], clientId: number, reqId: number): ZnodeOp {
    const path = keys[rnd.nextInt(keys.length)]!;
    const data = `c${clientId}.${reqId}`;
    const r = rnd.nextFloat();
    if (r < 0.25) return { op: 'create', path, data };
    if (r < 0.6) return { op: 'set', path, data, version: -1 };
    if (r < 0.75) return { op: 'set', path, data, version: rnd.nextInt(4) };
    if (r < 0.85 && this.config.stateMachine === 'database') {
      // The Database has no compare-and-set on data: a versioned set instead.
      return { op: 'set', path, data, version: rnd.nextInt(3) };
    }
    if (r < 0.85)
      return {
        op: 'cas',
        path,
        expect: `c${rnd.nextInt(this.config.clients) + 1}.${rnd.nextInt(reqId + 1)}`,
        data,
      };
    if (r < 0.93) return { op: 'delete', path, version: -1 };
    const other = keys[rnd.nextInt(keys.length)]!;
    return {
      op: 'multi',
      ops: [
        { op: 'set', path, data, version: -1 },
        { op: 'set', path: other, data: `${data}m`, version: -1 },
      ],
    };
  }

  // -----------------------------------------------------------------------------------------------
  // Chaos

  private startChaos(until: number): void {
    const rnd = this.chaosPrng;
    const step = () => {
      if (this.queue.now >= until) return;
      this.chaosAction(rnd);
      this.queue.schedule(this.queue.now + 50 + rnd.nextInt(250), step);
    };
    this.queue.schedule(this.queue.now + 200 + rnd.nextInt(200), step);
  }

  private chaosAction(rnd: SeededPrng): void {
    const r = rnd.nextFloat();
    const ids = this.ids;
    const pick = () => ids[rnd.nextInt(ids.length)]!;
    const crashed = this.members.filter((m) => m.crashed).map((m) => m.id);
    if (r < 0.15) {
      // Isolate a minority (often the leader).
      const leader = this.leader();
      const size = 1 + rnd.nextInt(Math.max(1, Math.floor(ids.length / 2)));
      const group = new Set<number>();
      if (leader !== undefined && rnd.chance(0.5)) group.add(leader.id);
      while (group.size < size) group.add(pick());
      this.network.isolate([...group], ids);
      this.stats.partitions++;
      this.onEvent(0, `PARTITION ${[...group].join(',')}`);
    } else if (r < 0.23) {
      const a = pick();
      const b = pick();
      if (a !== b) {
        this.network.partition(a, b, true);
        this.stats.partitions++;
        this.onEvent(0, `ONE-WAY ${a}->${b} cut`);
      }
    } else if (r < 0.42) {
      this.network.heal();
      this.onEvent(0, 'HEAL');
    } else if (r < 0.55) {
      if (rnd.chance(0.15)) {
        // Power loss: every member dies at once, each keeping only what it had fsynced; they
        // come back a little later (a whole-ensemble restart).
        this.onEvent(0, 'POWER LOSS');
        for (const id of ids) this.crash(id);
        this.queue.schedule(this.queue.now + 20 + rnd.nextInt(100), () => {
          for (const id of ids) this.restart(id);
        });
      } else if (crashed.length < ids.length - 1) {
        const leader = this.leader();
        this.crash(leader !== undefined && rnd.chance(0.4) ? leader.id : pick());
      }
    } else if (r < 0.72) {
      if (crashed.length > 0) this.restart(crashed[rnd.nextInt(crashed.length)]!);
    } else if (r < 0.82) {
      const m = this.member(pick());
      m.disk.slowFactor = m.disk.slowFactor > 1 ? 1 : 5 + rnd.nextInt(30);
      this.onEvent(m.id, `DISK x${m.disk.slowFactor}`);
    } else {
      const f = this.network.faults;
      f.dropRate = rnd.chance(0.5) ? 0 : rnd.nextFloat() * 0.05;
      f.duplicateRate = rnd.chance(0.5) ? 0 : rnd.nextFloat() * 0.03;
      f.reorderRate = rnd.chance(0.6) ? 0 : rnd.nextFloat() * 0.02;
      f.maxDelay = 3 + rnd.nextInt(20);
      this.onEvent(
        0,
        `NET drop=${f.dropRate.toFixed(3)} dup=${f.duplicateRate.toFixed(3)} reorder=${f.reorderRate.toFixed(3)}`,
      );
    }
  }

  private quiet(): void {
    this.network.heal();
    const f = this.network.faults;
    f.dropRate = 0;
    f.duplicateRate = 0;
    f.reorderRate = 0;
    f.maxDelay = 6;
    for (const m of this.members) {
      m.disk.slowFactor = 1;
      if (m.crashed) this.restart(m.id);
    }
  }

  // -----------------------------------------------------------------------------------------------
  // A whole run

  run(): SimResult {
    const c = this.config;
    this.startClients();
    if (c.chaos) this.startChaos(c.chaosUnits);
    this.runFor(c.chaosUnits);
    this.quiet();
    // Let clients run a little in calm weather, then stop them and wait for convergence.
    this.runFor(300);
    this.clientsActive = false;
    const ok = this.runUntil(() => this.converged() || this.failures.length > 0, c.settleUnits);
    this.runFor(100);
    if (ok && this.failures.length === 0) {
      // Liveness of the leader's container reaper: an emptied container goes within a few ticks.
      const reaped = this.runUntil(
        () => this.converged() && this.leader()!.sm.containerCandidates().length === 0,
        1000,
      );
      if (!reaped) {
        this.fail(`empty containers never reaped: ${this.leader()?.sm.containerCandidates().join(', ')}`);
      }
    }
    if (!ok && this.failures.length === 0) {
      const st = this.members.map((m) => {
        const s = m.node?.status();
        return s
          ? `n${m.id}:${s.role}/${s.serving ? 'serving' : 'not'} last=${s.lastZxid.toString(16)} applied=${m.sm.lastZxid.toString(16)}`
          : `n${m.id}:down`;
      });
      this.fail(`no convergence after the quiet phase (liveness): ${st.join(' ')}`);
    }
    this.checkFinal();
    return this.result();
  }

  /** Safety checks on the final state and the recorded history. */
  checkFinal(): void {
    const leader = this.leader() ?? this.members.find((m) => !m.crashed);
    if (leader !== undefined && this.converged()) {
      const sm = leader.sm;
      for (const [z, d] of this.delivered) {
        const got = sm.digestAt(z);
        if (got !== d) {
          this.fail(
            `committed txn ${z.toString(16)} lost: the final history ${got === undefined ? 'lacks it' : 'differs there'}`,
          );
          break;
        }
      }
      const digests = new Set(this.members.map((m) => m.sm.digest()));
      if (digests.size !== 1)
        this.fail(`members converged to different digests at the same zxid: ${[...digests].join(' ')}`);
      this.checkPlainReads(sm.historyZxids());
      this.checkSessionNamespace(sm);
    }
    const r = checkLinearizable(znodeModel, this.history, { timeoutMs: this.config.checkTimeoutMs });
    this.stats.linearizability = r.verdict;
    if (r.verdict === 'violation') this.fail(`history is not linearizable:\n${r.explanation}`);
    if (r.verdict === 'unknown') this.notes.push('linearizability check ran out of budget (unknown)');
  }

  /**
   * Ephemerals and sequential names through ZAB, on the converged state:
   * - every member holds the same ephemerals, each owned by a live session;
   * - an acknowledged ephemeral exists exactly when its session is still open;
   * - acknowledged sequential names are unique and increase with the zxid, per parent.
   */
  private checkSessionNamespace(sm: SimMember['sm']): void {
    const live = new Set(sm.sessions());
    const image = JSON.stringify(sm.ephemerals(), (_k, v) => (typeof v === 'bigint' ? `${v}` : v));
    for (const m of this.members) {
      const other = JSON.stringify(m.sm.ephemerals(), (_k, v) => (typeof v === 'bigint' ? `${v}` : v));
      if (other !== image) {
        this.fail(`member ${m.id} holds different ephemerals than the leader`);
        return;
      }
    }
    for (const [path, owner] of sm.ephemerals()) {
      if (!live.has(owner)) this.fail(`ephemeral ${path} outlives its session ${owner}`);
    }
    const owners = new Map(sm.ephemerals());
    for (const c of this.ackedCreates) {
      if (c.container) continue; // reaped once emptied, and may be created again
      if (!c.ephemeral && !sm.has(c.path)) this.fail(`acknowledged create of ${c.path} is lost`);
      // A container's child name can come back after the container is reaped and re-created, so
      // compare owners, not mere existence.
      const mine = owners.get(c.path) === c.session;
      if (c.ephemeral && mine !== live.has(c.session)) {
        this.fail(
          `ephemeral ${c.path} of session ${c.session} ${mine ? 'outlives its closed session' : 'vanished while its session is open'}`,
        );
      }
    }
    const byParent = new Map<string, AckedCreate[]>();
    const seen = new Set<string>();
    for (const c of this.ackedCreates) {
      // Under a container, names restart with each incarnation of the parent.
      if (c.container || c.path.startsWith('/c')) continue;
      if (seen.has(c.path)) this.fail(`two acknowledged creates made ${c.path}`);
      seen.add(c.path);
      if (!c.sequential) continue;
      const parent = c.path.slice(0, c.path.lastIndexOf('/'));
      let list = byParent.get(parent);
      if (list === undefined) byParent.set(parent, (list = []));
      list.push(c);
    }
    for (const [parent, list] of byParent) {
      list.sort((a, b) => (a.zxid < b.zxid ? -1 : a.zxid > b.zxid ? 1 : 0));
      for (let i = 1; i < list.length; i++) {
        const a = list[i - 1]!;
        const b = list[i]!;
        if (a.zxid !== b.zxid && !(suffix(a.path) < suffix(b.path))) {
          this.fail(`sequential names under ${parent} do not increase with zxid: ${a.path} then ${b.path}`);
          return;
        }
      }
    }
    const closedSessions = new Set<bigint>();
    for (const z of sm.historyZxids()) {
      const e = this.globalEntry.get(z);
      if (isReap(e)) this.stats.containersReaped++;
      const closed = e === undefined ? undefined : closedSession(e);
      if (closed !== undefined && !closedSessions.has(closed) && !live.has(closed)) {
        closedSessions.add(closed);
        if (this.clientClosed.has(closed)) this.stats.sessionsClosed++;
        else this.stats.sessionsExpired++;
      }
    }
  }

  /** Plain reads: each saw exactly the committed state at the zxid it read, monotonic per client. */
  private checkPlainReads(history: bigint[]): void {
    const reads = [...this.plainReads].sort((a, b) => (a.zxid < b.zxid ? -1 : a.zxid > b.zxid ? 1 : 0));
    const inHistory = new Set(history);
    // Replay the final history through a fresh state machine of the same kind.
    const factory = this.config.stateMachine === 'database' ? dbStateMachineFactory : kvStateMachineFactory;
    const state = factory.empty();
    let i = 0;
    const check = (rd: PlainRead) => {
      const expected = state.read(rd.path);
      if (
        expected.err !== rd.result.err ||
        expected.data !== rd.result.data ||
        expected.version !== rd.result.version
      ) {
        this.fail(
          `plain read by client ${rd.clientId} of ${rd.path} at zxid ${rd.zxid.toString(16)} saw ` +
            `${JSON.stringify(rd.result)}, the committed state there is ${JSON.stringify(expected)}`,
        );
      }
    };
    for (const z of [...history].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))) {
      while (i < reads.length && reads[i]!.zxid < z) check(reads[i++]!);
      const e = this.globalEntry.get(z);
      if (e === undefined) {
        this.fail(`final history holds ${z.toString(16)}, which no member ever applied`);
        return;
      }
      state.apply(e);
    }
    while (i < reads.length) check(reads[i++]!);
    for (const rd of this.plainReads) {
      if (rd.zxid !== 0n && !inHistory.has(rd.zxid)) {
        this.fail(`plain read at zxid ${rd.zxid.toString(16)}, which is not in the committed history`);
      }
      if (rd.zxid < rd.lastWriteZxid) this.fail(`client ${rd.clientId} read below its own last write`);
    }
    const lastByClient = new Map<number, bigint>();
    for (const rd of this.plainReads) {
      const prev = lastByClient.get(rd.clientId) ?? 0n;
      if (rd.zxid < prev) this.fail(`client ${rd.clientId}'s reads went back in time`);
      lastByClient.set(rd.clientId, rd.zxid);
    }
  }

  result(): SimResult {
    this.stats.endTime = this.queue.now;
    const s = this.stats;
    s.logSyncs = s.logSyncEntries = s.logSyncFailures = s.localSnapshots = s.restartsFromOwnSnapshot = 0;
    for (const m of this.members) {
      s.logSyncs += m.logStats.logSyncs;
      s.logSyncEntries += m.logStats.logSyncEntries;
      s.logSyncFailures += m.logStats.logSyncFailures;
      s.localSnapshots += m.logStats.localSnapshots;
      s.restartsFromOwnSnapshot += m.logStats.restartsFromOwnSnapshot;
    }
    const c = this.config;
    const allBugs = [...c.faults, ...c.shellFaults];
    const bugs =
      (allBugs.length > 0 ? ` --bugs ${allBugs.join(',')}` : '') +
      (c.stateMachine === 'database' ? ' --sm database' : '');
    return {
      ok: this.failures.length === 0,
      seed: c.seed,
      nodes: c.nodes,
      observers: c.observers,
      failures: [...this.failures],
      notes: [...this.notes],
      repro: `pnpm sim --seed ${c.seed} --nodes ${c.nodes}${c.observers > 0 ? ` --observers ${c.observers}` : ''}${bugs}`,
      stats: { ...this.stats },
      trace: [...this.trace],
    };
  }
}

/** A client's session id: client in the high bits, its session generation below. */
function sessionIdFor(clientId: number, generation: number): bigint {
  return (BigInt(clientId) << 20n) | BigInt(generation + 1);
}

/** The session a txn closes, if it is a closeSession (raw, or prepped by the Database's leader). */
function closedSession(e: SimEntry): bigint | undefined {
  if (e.kind === 'closeSession') return e.sessionId;
  if (e.kind === 'txn' && e.txn.type === 'closeSession') return e.sessionId;
  return undefined;
}

/** True for a container delete the leader made (raw reap, or the Database's prepped delete). */
function isReap(e: SimEntry | undefined): boolean {
  if (e === undefined) return false;
  if (e.kind === 'op') return e.op.op === 'reap';
  return e.kind === 'txn' && e.clientId === -1 && e.txn.type === 'delete';
}

/** The numeric sequence suffix of a sequential name (the last 10 characters). */
function suffix(path: string): number {
  return Number(path.slice(-10));
}

/**
 * The log modes a seed gets: half the seeds stream `fromLog` ranges (a third of those with a small
 * maxEntries, so the SNAP-instead branch runs), half take local snapshots and purge (keeping a
 * random part of the log below the snapshot). The modes are independent, so all four mixes run.
 */
export function logConfigForSeed(rnd: SeededPrng): SimLogConfig {
  const serveFromLog = rnd.chance(0.5);
  const maxLogEntries = rnd.chance(0.3) ? 1 + rnd.nextInt(10) : Number.POSITIVE_INFINITY;
  const snapshotEvery = rnd.chance(0.5) ? 8 + rnd.nextInt(40) : 0;
  const keepBelowSnapshot = rnd.chance(0.3) ? 0 : rnd.nextInt(60);
  return { serveFromLog, maxLogEntries, snapshotEvery, keepBelowSnapshot };
}

/** Runs one seeded simulation end to end. */
export function runSimulation(config: SimConfig): SimResult {
  return new Simulation(config).run();
}

/** The ensemble shape a seed gets when the caller does not choose: 3 or 5 voters, sometimes an observer. */
export function shapeForSeed(seed: number): { nodes: number; observers: number } {
  return { nodes: seed % 2 === 0 ? 3 : 5, observers: seed % 3 === 0 ? 1 : 0 };
}
