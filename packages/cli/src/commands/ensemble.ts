import { loadEnsembleConfig, startEnsemble, startMember } from '@conclave/server';
import pino from 'pino';
import { readableLogStream } from './server.js';

export interface EnsembleMemberCommandOptions {
  config: string;
  id: number;
  dataDir: string;
  fsync: boolean;
  logLevel: string;
  json: boolean;
}

/** Resolves on the first SIGINT/SIGTERM. */
function untilSignal(): Promise<string> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
}

/**
 * `conclave server --config ensemble.json --id N --data-dir DIR`: one member of a replicated
 * ensemble in the foreground. Serves clients whenever it follows or leads a quorum.
 */
export async function runEnsembleMemberCommand(o: EnsembleMemberCommandOptions): Promise<number> {
  const logger = pino({ level: o.logLevel }, o.json ? pino.destination(2) : readableLogStream());
  let fatal: ((err: Error) => void) | undefined;
  let member: Awaited<ReturnType<typeof startMember>>;
  try {
    const config = await loadEnsembleConfig(o.config);
    member = await startMember({
      config,
      id: o.id,
      dataDir: o.dataDir,
      server: { fsync: o.fsync },
      logger,
      onFatal: (err) => fatal?.(err),
    });
  } catch (err) {
    process.stderr.write(`conclave server: ${(err as Error).message}\n`);
    return 1;
  }
  process.stdout.write(
    `Conclave member ${member.id} listening for clients at ${member.connectString} (admin ${member.adminUrl}/ensemble)\n`,
  );
  const outcome = await Promise.race([
    untilSignal().then(() => 0),
    new Promise<number>((resolve) => {
      fatal = (err) => {
        process.stderr.write(`conclave server: stopped serving: ${err.message}\n`);
        resolve(1);
      };
    }),
  ]);
  await member.close();
  return outcome;
}

export interface EnsembleCommandOptions {
  size: number;
  /** Non-voting members, after the voters (default 0). */
  observers?: number;
  dataDir: string;
  basePort: number;
  tickMs: number;
  fsync: boolean;
  logLevel: string;
}

/**
 * `conclave ensemble --size 3 [--observers 1] --data-dir DIR [--base-port 2181]`: a local ensemble
 * of real member processes (client ports base..base+size+observers-1, quorum ports base+1000…),
 * supervised (a member that dies is restarted), all stopped on Ctrl-C. Observers get the ids after
 * the voters.
 */
export async function runEnsembleCommand(o: EnsembleCommandOptions): Promise<number> {
  let ens: Awaited<ReturnType<typeof startEnsemble>>;
  try {
    ens = await startEnsemble({
      size: o.size,
      observers: o.observers ?? 0,
      dataDir: o.dataDir,
      basePort: o.basePort,
      tickMs: o.tickMs,
      fsync: o.fsync,
      proxies: false,
      supervise: true,
      logLevel: o.logLevel,
      onStderr: (id, chunk) => {
        for (const line of chunk.split('\n'))
          if (line !== '') process.stderr.write(`[member ${id}] ${line}\n`);
      },
    });
  } catch (err) {
    process.stderr.write(`conclave ensemble: ${(err as Error).message}\n`);
    return 1;
  }
  try {
    const leader = await ens.waitForLeader(60_000);
    process.stdout.write(
      `Conclave ensemble of ${o.size}${o.observers ? ` + ${o.observers} observer${o.observers > 1 ? 's' : ''}` : ''} serving at ${ens.connectString} (leader: member ${leader})\n`,
    );
  } catch (err) {
    process.stderr.write(`conclave ensemble: ${(err as Error).message}\n`);
    await ens.close();
    return 1;
  }
  await untilSignal();
  await ens.close();
  return 0;
}
