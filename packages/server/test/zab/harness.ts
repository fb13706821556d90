import {
  type ZabNodeId as NodeId,
  type ZabReady as Ready,
  SeededPrng,
  type ZabConfig,
  type ZabEntry,
  type ZabFault,
  type ZabMessage,
  ZabNode,
} from '../../src/zab/index.js';

/** The test entry: a zxid and a label. */
export interface TestEntry extends ZabEntry {
  label: string;
}

export interface MemberState {
  node: ZabNode<TestEntry>;
  /** Durable log (what the shell persisted). */
  log: TestEntry[];
  applied: TestEntry[];
  acceptedEpoch: number;
  currentEpoch: number;
  snapshotZxid: bigint;
  /** The state machine image of the snapshot (the test state machine is the applied list). */
  snapshotData: TestEntry[];
  readies: Ready<TestEntry>[];
  up: boolean;
}

export const TEST_TIMING = {
  electionTimeoutTicks: 3,
  finalizeWaitTicks: 1,
  initLimitTicks: 10,
  syncLimitTicks: 5,
  heartbeatTicks: 1,
};

/**
 * A tiny synchronous driver for ZabNodes: instant durable disks, an in-memory network the test
 * controls (drop rules, held messages), and full visibility of every Ready.
 */
export class Harness {
  readonly members = new Map<NodeId, MemberState>();
  private inbox: ZabMessage<TestEntry>[] = [];
  /** Return false to drop a message. */
  filter: (m: ZabMessage<TestEntry>) => boolean = () => true;
  /** Observe (and possibly mutate) every Ready before the shell handles it. */
  onReady: ((id: NodeId, rd: Ready<TestEntry>) => void) | undefined;
  readonly prng: SeededPrng;

  constructor(
    readonly voters: NodeId[],
    readonly observers: NodeId[] = [],
    readonly opts: {
      seed?: number;
      faults?: ZabFault[];
      maxCommittedLogEntries?: number;
      maxZxidCounter?: number;
      maxOutstandingProposals?: number;
    } = {},
  ) {
    this.prng = new SeededPrng(opts.seed ?? 1);
    for (const id of [...voters, ...observers]) {
      this.members.set(id, {
        node: undefined as unknown as ZabNode<TestEntry>,
        log: [],
        applied: [],
        acceptedEpoch: 0,
        currentEpoch: 0,
        snapshotZxid: 0n,
        snapshotData: [],
        readies: [],
        up: false,
      });
      this.start(id);
    }
  }

  node(id: NodeId): ZabNode<TestEntry> {
    return this.members.get(id)!.node;
  }

  member(id: NodeId): MemberState {
    return this.members.get(id)!;
  }

  /** Starts (or restarts) a member from its durable state; the state machine replays the log. */
  start(id: NodeId): void {
    const m = this.members.get(id)!;
    const config: ZabConfig<TestEntry> = {
      id,
      voters: this.voters,
      observers: this.observers,
      prng: this.prng.fork(),
      timing: TEST_TIMING,
      persisted: {
        acceptedEpoch: m.acceptedEpoch,
        currentEpoch: m.currentEpoch,
        snapshotZxid: m.snapshotZxid,
        entries: [...m.log],
      },
      faults: this.opts.faults ?? [],
      maxCommittedLogEntries: this.opts.maxCommittedLogEntries ?? 500,
      ...(this.opts.maxZxidCounter !== undefined ? { maxZxidCounter: this.opts.maxZxidCounter } : {}),
      ...(this.opts.maxOutstandingProposals !== undefined
        ? { maxOutstandingProposals: this.opts.maxOutstandingProposals }
        : {}),
    };
    m.applied = [...m.snapshotData, ...m.log];
    m.node = new ZabNode<TestEntry>(config);
    m.up = true;
  }

  crash(id: NodeId): void {
    this.members.get(id)!.up = false;
    this.inbox = this.inbox.filter((msg) => msg.to !== id && msg.from !== id);
  }

  /** Handles Readies and delivers messages until nothing moves. */
  pump(): void {
    for (let round = 0; round < 10_000; round++) {
      let moved = false;
      for (const [id, m] of this.members) {
        if (!m.up || !m.node.hasReady()) continue;
        moved = true;
        const rd = m.node.ready();
        this.onReady?.(id, rd);
        m.readies.push(rd);
        if (rd.snapshotToInstall) {
          m.log = [];
          m.snapshotZxid = rd.snapshotToInstall.zxid;
          m.snapshotData = (rd.snapshotToInstall.snapshot as TestEntry[]).slice();
          m.applied = m.snapshotData.slice();
        }
        if (rd.toTruncate) {
          m.log = m.log.filter((e) => e.zxid <= rd.toTruncate!.zxid);
          if (rd.toTruncate.rebuild) m.applied = [...m.snapshotData, ...m.log];
        }
        m.log.push(...rd.toAppend);
        if (rd.epochUpdates?.acceptedEpoch !== undefined) m.acceptedEpoch = rd.epochUpdates.acceptedEpoch;
        if (rd.epochUpdates?.currentEpoch !== undefined) m.currentEpoch = rd.epochUpdates.currentEpoch;
        for (const e of rd.toApply) {
          const last = m.applied[m.applied.length - 1];
          if (last !== undefined && e.zxid <= last.zxid) throw new Error(`applied twice: ${e.zxid}`);
          m.applied.push(e);
        }
        for (const msg of rd.messages) {
          if (msg.type === 'snap') msg.snapshot = m.applied.slice();
          this.inbox.push(msg);
        }
        m.node.advance();
      }
      const batch = this.inbox;
      this.inbox = [];
      for (const msg of batch) {
        const to = this.members.get(msg.to);
        if (to === undefined || !to.up || !this.members.get(msg.from)?.up || !this.filter(msg)) continue;
        moved = true;
        to.node.step(msg);
      }
      if (!moved) return;
    }
    throw new Error('harness: no quiescence after 10000 rounds');
  }

  tick(n = 1): void {
    for (let i = 0; i < n; i++) {
      for (const m of this.members.values()) if (m.up) m.node.tick();
      this.pump();
    }
  }

  /** Ticks until `pred` holds; throws after `maxTicks`. */
  until(pred: () => boolean, maxTicks = 500): void {
    this.pump();
    for (let i = 0; i < maxTicks; i++) {
      if (pred()) return;
      this.tick();
    }
    if (!pred()) throw new Error('harness: condition not reached');
  }

  leader(): NodeId | undefined {
    for (const [id, m] of this.members) if (m.up && m.node.role === 'leading' && m.node.serving) return id;
    return undefined;
  }

  /** Waits until one leader serves and every up member is synced with it. */
  stable(maxTicks = 500): NodeId {
    this.until(() => {
      const l = this.leader();
      if (l === undefined) return false;
      for (const m of this.members.values())
        if (m.up && (!m.node.serving || m.node.leaderId !== l)) return false;
      return true;
    }, maxTicks);
    return this.leader()!;
  }

  propose(label: string): bigint {
    const l = this.leader();
    if (l === undefined) throw new Error('no leader');
    const r = this.node(l).propose({ label });
    if (!r.ok) throw new Error(`propose refused: ${r.reason}`);
    this.pump();
    return r.zxid;
  }

  /** Cuts every link between the two groups (both directions). */
  partition(a: NodeId[], b: NodeId[]): void {
    const cut = new Set<string>();
    for (const x of a) for (const y of b) cut.add(`${x}>${y}`).add(`${y}>${x}`);
    this.filter = (m) => !cut.has(`${m.from}>${m.to}`);
  }

  heal(): void {
    this.filter = () => true;
  }
}

export function labels(entries: TestEntry[]): string[] {
  return entries.map((e) => e.label);
}
