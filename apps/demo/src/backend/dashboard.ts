import { type ConclaveClient, connect } from '@conclave/client';
import { ConfigValue, DistributedQueue, type ElectionObserver, LeaderElection } from '@conclave/recipes';
import type { EnsembleDriver } from '../driver/ensemble-driver.js';
import { tolerantJson } from '../shared/tolerant-codec.js';
import {
  DEFAULT_CONFIG,
  type DashboardSnapshot,
  type LeaderChange,
  PATHS,
  SERIES_LENGTH,
  type WorkerView,
} from '../shared/view-model.js';
import type { WorkerPool } from '../workers/worker-pool.js';
import type { EventLog } from './event-log.js';
import { MemberTracker } from './member-tracker.js';
import { RateMeter } from './rate-meter.js';

/** Watch events under these prefixes come many per second (lock hand-offs, queue items): not logged. */
const NOISY = [`${PATHS.lock}/`, `${PATHS.queue}/`, `${PATHS.election}/`];

/** What the backend's own session feeds (rebuilt whenever that session is lost). */
interface Attachment {
  client: ConclaveClient;
  config: ConfigValue<unknown>;
  queue: DistributedQueue;
  observer: ElectionObserver;
  teardown: () => Promise<void>;
}

/**
 * The demo's backend: probes the members, follows the workers, and holds its own Conclave session
 * (for the znode browser, the config editor, the election observer and the queue depth).
 * `snapshot()` is what the dashboard renders.
 */
export class Dashboard {
  readonly members: MemberTracker;
  readonly #startedAtMs = Date.now();
  readonly #handoffs = new RateMeter();
  readonly #produced = new RateMeter();
  readonly #consumed = new RateMeter();
  #att: Attachment | undefined;
  #closed = false;
  /** The pending timer of each periodic loop (one per loop, so close() can clear them all). */
  readonly #timers: ReturnType<typeof setTimeout>[] = [];
  #backendState = 'CONNECTING';
  #config: { value: unknown; version: number | null } = { value: DEFAULT_CONFIG, version: null };
  #electionLeader: string | null = null;
  #participants: string[] = [];
  #history: LeaderChange[] = [];
  #queueDepth: number | null = null;
  #lockNodes: number | null = null;
  readonly #handoffSeries: number[] = [];
  readonly #depthSeries: number[] = [];
  /** A config version the dashboard wrote, until every live worker reports it. */
  #pendingConfig: { version: number; atMs: number } | undefined;

  constructor(
    private readonly driver: EnsembleDriver,
    private readonly pool: WorkerPool,
    private readonly log: EventLog,
  ) {
    this.members = new MemberTracker(log);
  }

  /** The backend's client, when it has a session. */
  get client(): ConclaveClient | undefined {
    return this.#att?.client;
  }

  get configValue(): ConfigValue<unknown> | undefined {
    return this.#att?.config;
  }

  async start(): Promise<void> {
    await this.#probe();
    await this.#attach();
    this.#loop(() => this.#probe(), 250);
    this.#loop(() => this.#pollCounts(), 500);
    this.#loop(async () => this.#sampleRates(), 1000);
  }

  /** Called when a dashboard edit, sent at `sentAtMs`, wrote config version `version`. */
  configWritten(version: number, sentAtMs: number): void {
    this.#pendingConfig = { version, atMs: sentAtMs };
    this.log.add('config', `config set to version ${version}; waiting for every worker to see it`);
    // The workers' watches may have fired before our own reply came back.
    this.configSeen();
  }

  /** A worker reported a config version: when all live workers have the pending one, say how long it took. */
  configSeen(): void {
    const pending = this.#pendingConfig;
    if (pending === undefined) return;
    const live = this.pool.views().filter((w) => w.up && w.sessionId !== null);
    if (live.length === 0 || !live.every((w) => (w.configVersion ?? -1) >= pending.version)) return;
    this.#pendingConfig = undefined;
    this.log.add(
      'config',
      `config version ${pending.version} reached all ${live.length} workers in ${Date.now() - pending.atMs} ms`,
    );
  }

  snapshot(): DashboardSnapshot {
    const workers = this.pool.views();
    // Reports from different processes can cross in flight: the latest acquisition is the holder.
    const holder = workers
      .filter((w) => w.up && w.lock === 'holding')
      .sort((a, b) => (b.lockSinceMs ?? 0) - (a.lockSinceMs ?? 0))[0];
    const waiters = workers
      .filter((w) => w.up && w.lock === 'waiting')
      .sort((a, b) => (a.lockSinceMs ?? 0) - (b.lockSinceMs ?? 0))
      .map((w) => w.id);
    const producers = workers.filter((w) => w.roles.includes('producer')).map((w) => w.id);
    const consumers = workers.filter((w) => w.roles.includes('consumer')).map((w) => w.id);
    return {
      nowMs: Date.now(),
      startedAtMs: this.#startedAtMs,
      ensembleNote: this.driver.description,
      connectString: this.driver.connectString,
      members: this.members.views,
      leaderId: this.members.leaderId,
      epoch: this.members.epoch,
      noLeaderSinceMs: this.members.noLeaderSinceMs,
      backendConnection: this.#backendState,
      workers,
      lock: {
        path: PATHS.lock,
        holder: holder?.id ?? null,
        holderSinceMs: holder?.lockSinceMs ?? null,
        waiters,
        queueNodes: this.#lockNodes,
        handoffsPerSec: this.#handoffs.perSecond(),
        handoffsSeries: [...this.#handoffSeries],
      },
      election: {
        path: PATHS.election,
        leader: this.#electionLeader,
        participants: this.#participants,
        history: this.#history,
      },
      config: { path: PATHS.config, value: this.#config.value, version: this.#config.version },
      queue: {
        path: PATHS.queue,
        depth: this.#queueDepth,
        producers,
        consumers,
        producedPerSec: this.#produced.perSecond(),
        consumedPerSec: this.#consumed.perSecond(),
        producedTotal: this.#produced.total,
        consumedTotal: this.#consumed.total,
        depthSeries: [...this.#depthSeries],
      },
    };
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.length = 0;
    await this.#att?.teardown();
  }

  /** Runs `fn` every `everyMs` after the previous run finished (never two at once). */
  #loop(fn: () => Promise<void>, everyMs: number): void {
    const slot = this.#timers.length;
    const run = async () => {
      if (this.#closed) return;
      try {
        await fn();
      } catch (err) {
        this.log.add('error', `dashboard: ${(err as Error).message}`);
      }
      if (!this.#closed) this.#timers[slot] = setTimeout(run, everyMs);
    };
    this.#timers[slot] = setTimeout(run, everyMs);
  }

  async #probe(): Promise<void> {
    this.members.update(await this.driver.probe(), Date.now());
  }

  async #pollCounts(): Promise<void> {
    const att = this.#att;
    if (att === undefined || (att.client.state !== 'CONNECTED' && att.client.state !== 'RECONNECTED')) return;
    const [depth, lock] = await Promise.allSettled([att.queue.size(), att.client.getChildren(PATHS.lock)]);
    this.#queueDepth = depth.status === 'fulfilled' ? depth.value : this.#queueDepth;
    if (lock.status === 'fulfilled') this.#lockNodes = lock.value.children.length;
    else if ((lock.reason as { code?: string }).code === 'NONODE') this.#lockNodes = 0;
  }

  #sampleRates(): void {
    const now = Date.now();
    const ws = this.pool.views().filter((w) => w.pid !== null);
    const key = (w: WorkerView) => `${w.id}:${w.pid}`;
    this.#handoffs.sample(
      now,
      ws.map((w) => [key(w), w.lockAcquisitions]),
    );
    this.#produced.sample(
      now,
      ws.map((w) => [key(w), w.produced]),
    );
    this.#consumed.sample(
      now,
      ws.map((w) => [key(w), w.consumed]),
    );
    const push = (series: number[], v: number) => {
      series.push(v);
      if (series.length > SERIES_LENGTH) series.shift();
    };
    push(this.#handoffSeries, this.#handoffs.perSecond());
    push(this.#depthSeries, this.#queueDepth ?? 0);
  }

  /**
   * Opens the backend's session and everything that reads through it. When the session is lost
   * (every member down for longer than its timeout) it starts over with a new one.
   */
  async #attach(): Promise<void> {
    for (let attempt = 0; !this.#closed; attempt++) {
      try {
        this.#att = await this.#open();
        return;
      } catch (err) {
        if (attempt % 5 === 0)
          this.log.add('error', `dashboard session: ${(err as Error).message}; retrying`);
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  async #open(): Promise<Attachment> {
    const client = await connect(this.driver.connectString, {
      sessionTimeoutMs: 4000,
      retry: { retries: 10, minTimeoutMs: 50, maxTimeoutMs: 500 },
    });
    this.#backendState = client.state;
    this.log.add('state', `dashboard session 0x${client.sessionId.toString(16)} ${client.state}`);
    const onState = (state: string) => {
      this.#backendState = state;
      this.log.add('state', `dashboard session ${state}`);
      if ((state === 'LOST' || state === 'EXPIRED') && this.#att?.client === client) {
        const old = this.#att;
        this.#att = undefined;
        void old.teardown().then(() => this.#attach());
      }
    };
    client.on('state', onState);

    const config = new ConfigValue<unknown>(client, PATHS.config, {
      defaultValue: DEFAULT_CONFIG,
      codec: tolerantJson,
    });
    const configSub = config.versioned$.subscribe({
      next: (v) => {
        this.#config = { value: v.value, version: v.version };
      },
      error: () => {},
    });
    const queue = new DistributedQueue(client, PATHS.queue);
    const observer = LeaderElection.observe(client, PATHS.election);
    let primed = false;
    const leaderSub = observer.leader$.subscribe({
      next: (p) => {
        const id = p?.id ?? null;
        // A new observer starts at null before its first read: not a leadership change.
        if (!primed && id === null) return;
        primed = true;
        if (id === this.#electionLeader) return;
        this.#electionLeader = id;
        this.#history = [{ atMs: Date.now(), leader: id }, ...this.#history].slice(0, 40);
        this.log.add('election', id === null ? 'the election has no leader' : `${id} leads the election`);
      },
      error: () => {},
    });
    const partSub = observer.participants$.subscribe({
      next: (ps) => {
        this.#participants = ps.map((p) => p.id);
      },
      error: () => {},
    });
    // One persistent recursive watch on the whole tree: every change becomes a log line, except
    // the many-per-second churn of lock, queue and election nodes.
    let unwatch: (() => Promise<void>) | undefined;
    try {
      unwatch = await client.addWatch('/', 'PERSISTENT_RECURSIVE', (e) => {
        if (NOISY.some((p) => e.path.startsWith(p))) return;
        this.log.add('watch', `${e.type} ${e.path} (zxid 0x${e.zxid.toString(16)})`);
      });
    } catch (err) {
      this.log.add('error', `addWatch: ${(err as Error).message}`);
    }
    return {
      client,
      config,
      queue,
      observer,
      teardown: async () => {
        configSub.unsubscribe();
        leaderSub.unsubscribe();
        partSub.unsubscribe();
        client.off('state', onState);
        await observer.close().catch(() => {});
        await unwatch?.().catch(() => {});
        await Promise.race([client.close().catch(() => {}), new Promise((r) => setTimeout(r, 1500))]);
      },
    };
  }
}
