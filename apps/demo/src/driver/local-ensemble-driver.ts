import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { type LocalEnsemble, startEnsemble } from '@conclave/server';
import { probeMember } from './admin-probe.js';
import type { EnsembleDriver, MemberFacts } from './ensemble-driver.js';

export interface LocalEnsembleDriverOptions {
  size: number;
  /** Parent of the members' data directories; default a temp dir removed on close. */
  dataDir?: string;
  fsync: boolean;
  /** ZooKeeper's tickTime; small so a failover is quick enough to watch. */
  tickMs: number;
  /** Members' error output (one line at a time). */
  onMemberLog?: (id: number, line: string) => void;
}

/** The built member entry of @conclave/server (dist/ensemble/member-main.js). */
function memberEntry(): string {
  const serverMain = createRequire(import.meta.url).resolve('@conclave/server');
  return join(dirname(serverMain), 'ensemble', 'member-main.js');
}

/** A real ensemble: `startEnsemble()` member processes on 127.0.0.1, partitions by link proxies. */
export class LocalEnsembleDriver implements EnsembleDriver {
  readonly #isolated = new Set<number>();

  private constructor(
    private readonly ensemble: LocalEnsemble,
    readonly description: string,
  ) {}

  static async start(opts: LocalEnsembleDriverOptions): Promise<LocalEnsembleDriver> {
    const ensemble = await startEnsemble({
      size: opts.size,
      ...(opts.dataDir !== undefined ? { dataDir: opts.dataDir } : {}),
      fsync: opts.fsync,
      tickMs: opts.tickMs,
      entry: memberEntry(),
      logLevel: 'error',
      onStderr: (id, chunk) => {
        for (const line of chunk.split('\n')) {
          const text = line.trim();
          if (text === '') continue;
          try {
            const parsed = JSON.parse(text) as { msg?: string; err?: { message?: string } };
            opts.onMemberLog?.(id, parsed.err?.message ?? parsed.msg ?? text);
          } catch {
            opts.onMemberLog?.(id, text);
          }
        }
      },
    });
    const fsyncNote = opts.fsync ? 'fsync on' : 'fsync off';
    return new LocalEnsembleDriver(
      ensemble,
      `${opts.size} voting members, real processes on 127.0.0.1 (tick ${opts.tickMs} ms, ${fsyncNote})`,
    );
  }

  get connectString(): string {
    return this.ensemble.connectString;
  }

  get memberIds(): number[] {
    return this.ensemble.members.map((m) => m.id);
  }

  /** Waits until a leader serves with a quorum under it. */
  waitForLeader(timeoutMs: number): Promise<number> {
    return this.ensemble.waitForLeader(timeoutMs);
  }

  async probe(): Promise<MemberFacts[]> {
    return Promise.all(
      this.ensemble.members.map(async (m): Promise<MemberFacts> => {
        const running = m.running;
        const answer = running ? await probeMember(m.clientPort) : undefined;
        return {
          id: m.id,
          running,
          answering: answer !== undefined,
          pid: m.pid ?? null,
          clientPort: m.clientPort,
          role: answer?.role ?? null,
          leaderId: answer?.leaderId ?? null,
          serving: answer?.serving ?? false,
          epoch: answer?.epoch ?? null,
          lastZxid: answer?.lastZxid ?? null,
          sessions: answer?.sessions ?? null,
          connections: answer?.connections ?? null,
          znodes: answer?.znodes ?? null,
          isolated: this.#isolated.has(m.id),
        };
      }),
    );
  }

  kill(id: number): Promise<void> {
    return this.ensemble.kill(id);
  }

  restart(id: number): Promise<void> {
    return this.ensemble.restart(id);
  }

  isolate(id: number): void {
    this.ensemble.isolate(id);
    this.#isolated.add(id);
  }

  heal(): void {
    this.ensemble.heal();
    this.#isolated.clear();
  }

  pids(): number[] {
    return this.ensemble.members.flatMap((m) => (m.pid !== undefined ? [m.pid] : []));
  }

  close(): Promise<void> {
    return this.ensemble.close();
  }
}
