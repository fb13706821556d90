/**
 * What the dashboard needs from "the ensemble": its members and their facts, and the failure
 * buttons. Two implementations could sit behind it (a real multi-process ensemble, or a single
 * standalone member); the dashboard never invents a member fact: everything in MemberFacts comes
 * from the member's own admin endpoint, or says the member did not answer.
 */
export interface MemberFacts {
  id: number;
  /** The process is running (the driver spawned it and it has not exited). */
  running: boolean;
  /** It answered its admin endpoint just now. */
  answering: boolean;
  pid: number | null;
  clientPort: number;
  /** ZAB role as the member reports it: 'leading' | 'following' | 'observing' | 'looking' | 'standalone'. */
  role: string | null;
  leaderId: number | null;
  serving: boolean;
  epoch: number | null;
  /** Hex. */
  lastZxid: string | null;
  sessions: number | null;
  connections: number | null;
  znodes: number | null;
  isolated: boolean;
}

export interface EnsembleDriver {
  /** Said plainly in the dashboard's header, e.g. "3 voting members, real processes". */
  readonly description: string;
  readonly connectString: string;
  readonly memberIds: readonly number[];
  /** Asks every member's admin endpoint (in parallel, bounded by a short timeout). */
  probe(): Promise<MemberFacts[]>;
  /** SIGKILL: the process dies at once. Resolves once it exited. */
  kill(id: number): Promise<void>;
  /** Starts a killed member again on its data directory and ports. */
  restart(id: number): Promise<void>;
  /** Cuts every quorum link of the member (its clients can still reach it). */
  isolate(id: number): void;
  /** Restores every cut link. */
  heal(): void;
  /** PIDs of the processes the driver started that are running. */
  pids(): number[];
  /** Stops every member process. */
  close(): Promise<void>;
}
