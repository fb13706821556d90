import { type ChildProcess, spawn } from 'node:child_process';
import type { WorkerView } from '../shared/view-model.js';
import { lineSplitter, type WorkerCommand, type WorkerReport } from './protocol.js';

export interface WorkerPoolOptions {
  /** The built worker entry (dist/worker.js). */
  entry: string;
  connectString: string;
  count: number;
  /** Told about what workers do and say (the event log). */
  onEvent: (text: string, kind: 'worker' | 'error' | 'state' | 'election') => void;
  /** Told about every config version a worker reports (to time how fast a change spreads). */
  onConfigSeen?: (workerId: string, version: number) => void;
}

interface Slot {
  view: WorkerView;
  proc: ChildProcess | undefined;
  exited: Promise<void>;
  /** Set while the pool itself stops the process: no automatic restart. */
  stopping: boolean;
  restartTimer: ReturnType<typeof setTimeout> | undefined;
}

/**
 * The demo's worker processes: spawns them, reads their reports, restarts one whose session was
 * lost (it exits with status 3), and stops them all on close. Half produce, half consume.
 */
export class WorkerPool {
  readonly #slots: Slot[] = [];
  #closed = false;

  constructor(private readonly opts: WorkerPoolOptions) {
    for (let i = 1; i <= opts.count; i++) {
      const roles: WorkerView['roles'] = i % 2 === 1 ? ['producer'] : ['consumer'];
      this.#slots.push({
        view: {
          id: `w${i}`,
          pid: null,
          up: false,
          connection: 'CONNECTING',
          sessionId: null,
          roles,
          lock: 'idle',
          lockSinceMs: null,
          lockAcquisitions: 0,
          isLeader: false,
          config: null,
          configVersion: null,
          produced: 0,
          consumed: 0,
          restarts: 0,
        },
        proc: undefined,
        exited: Promise.resolve(),
        stopping: false,
        restartTimer: undefined,
      });
    }
  }

  start(): void {
    for (const s of this.#slots) this.#launch(s);
  }

  /** Copies of every worker's view, in id order. */
  views(): WorkerView[] {
    return this.#slots.map((s) => ({ ...s.view, roles: [...s.view.roles] }));
  }

  /** PIDs of the running worker processes. */
  pids(): number[] {
    return this.#slots.flatMap((s) => (s.proc?.pid !== undefined ? [s.proc.pid] : []));
  }

  /** SIGKILL one worker: its session stays until it times out, then its lock and leadership pass on. */
  async kill(id: string): Promise<void> {
    const s = this.#slot(id);
    if (s.proc === undefined) return;
    s.stopping = true;
    s.proc.kill('SIGKILL');
    await s.exited;
    this.opts.onEvent(`${id} killed (SIGKILL): its session lives until it times out`, 'worker');
  }

  async restart(id: string): Promise<void> {
    const s = this.#slot(id);
    if (s.proc !== undefined) return;
    clearTimeout(s.restartTimer);
    this.#launch(s);
  }

  /** Asks the worker leading the election to step down (it queues again at the back). */
  resignLeader(): boolean {
    const leader = this.#slots.find((s) => s.view.isLeader && s.proc !== undefined);
    if (leader === undefined) return false;
    this.#send(leader, { type: 'resign' });
    return true;
  }

  /** SIGTERM every worker (each closes its session), SIGKILL whatever is left after 3 s. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all(
      this.#slots.map(async (s) => {
        clearTimeout(s.restartTimer);
        const proc = s.proc;
        if (proc === undefined) return;
        s.stopping = true;
        proc.kill('SIGTERM');
        const force = setTimeout(() => proc.kill('SIGKILL'), 3000);
        await s.exited;
        clearTimeout(force);
      }),
    );
  }

  #slot(id: string): Slot {
    const s = this.#slots.find((x) => x.view.id === id);
    if (s === undefined) throw new RangeError(`no worker ${id}`);
    return s;
  }

  #send(s: Slot, cmd: WorkerCommand): void {
    s.proc?.stdin?.write(`${JSON.stringify(cmd)}\n`);
  }

  #launch(s: Slot): void {
    if (this.#closed) return;
    const args = [this.opts.entry, '--connect', this.opts.connectString, '--id', s.view.id];
    args.push('--roles', s.view.roles.join(','));
    const proc = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    s.proc = proc;
    s.stopping = false;
    s.view.pid = proc.pid ?? null;
    s.view.up = true;
    s.view.connection = 'CONNECTING';
    s.view.lock = 'idle';
    s.view.lockSinceMs = null;
    s.view.isLeader = false;
    s.exited = new Promise((resolve) => proc.once('exit', () => resolve()));
    proc.stdin?.on('error', () => {}); // EPIPE when it dies first: the exit handler reports it
    proc.stdout?.on(
      'data',
      lineSplitter((line) => this.#onLine(s, line)),
    );
    let stderrTail = '';
    proc.stderr?.on('data', (d: Buffer) => {
      stderrTail = (stderrTail + d.toString()).slice(-2000);
    });
    proc.once('exit', (code, sig) => {
      if (s.proc === proc) s.proc = undefined;
      s.view.up = false;
      s.view.pid = null;
      s.view.isLeader = false;
      s.view.lock = 'idle';
      s.view.lockSinceMs = null;
      s.view.connection = 'DOWN';
      if (s.stopping || this.#closed) return;
      const why = sig !== null ? `signal ${sig}` : `status ${code}`;
      const detail = code === 3 ? '' : stderrTail.trim().split('\n').slice(-2).join(' | ');
      this.opts.onEvent(
        `${s.view.id} exited (${why})${detail ? `: ${detail}` : ''}; starting a new one`,
        'worker',
      );
      s.view.restarts++;
      s.restartTimer = setTimeout(() => this.#launch(s), 500);
    });
  }

  #onLine(s: Slot, line: string): void {
    let r: WorkerReport;
    try {
      r = JSON.parse(line) as WorkerReport;
    } catch {
      return; // not a report (a stray console.log): ignore it
    }
    const v = s.view;
    switch (r.type) {
      case 'hello':
        v.sessionId = r.sessionId;
        v.connection = 'CONNECTED';
        this.opts.onEvent(`${v.id} connected (pid ${r.pid}, session ${r.sessionId})`, 'worker');
        break;
      case 'status':
        v.connection = r.connection;
        v.lock = r.lock;
        v.lockSinceMs = r.lockSinceMs;
        v.lockAcquisitions = r.lockAcquisitions;
        v.isLeader = r.isLeader;
        v.produced = r.produced;
        v.consumed = r.consumed;
        break;
      case 'state':
        v.connection = r.connection;
        this.opts.onEvent(`${v.id} connection ${r.connection}`, 'state');
        break;
      case 'config':
        v.config = r.value;
        v.configVersion = r.version;
        this.opts.onConfigSeen?.(v.id, r.version);
        break;
      case 'leader':
        v.isLeader = r.isLeader;
        break;
      case 'event':
        this.opts.onEvent(`${v.id}: ${r.text}`, r.error === true ? 'error' : 'worker');
        break;
    }
  }
}
