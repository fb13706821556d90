import { parseArgs } from 'node:util';
import pino from 'pino';
import { loadEnsembleConfig } from './config.js';
import { startMember } from './member.js';

/**
 * The process entry of one ensemble member (what startEnsemble spawns, and what
 * `conclave server --config` will run):
 *
 *   node member-main.js --config ensemble.json --id 2 --data-dir /var/lib/conclave/2 [--no-fsync]
 *                       [--exit-with-parent]
 *
 * Prints one JSON line `{"ready":true,...}` on stdout once both ports are bound; logs go to
 * stderr. SIGTERM/SIGINT close it cleanly; a fatal member error exits with status 1.
 *
 * `--exit-with-parent` is for supervisors (startEnsemble, `conclave ensemble`): they spawn the
 * member with a stdin pipe that they never write to nor close; the kernel closes it when the
 * supervisor dies, however it dies (SIGKILL included), and the member then closes cleanly instead
 * of living on as an orphan. Without the flag stdin is ignored, so a member run from a terminal
 * or a service manager is not stopped by its stdin closing.
 */
async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      config: { type: 'string' },
      id: { type: 'string' },
      'data-dir': { type: 'string' },
      'no-fsync': { type: 'boolean', default: false },
      'snapshot-every': { type: 'string' },
      'exit-with-parent': { type: 'boolean', default: false },
      'cleanup-interval-ms': { type: 'string' },
      // Also from the environment, so a test harness that spawns members can set it.
      'max-outstanding-proposals': {
        type: 'string',
        default: process.env.CONCLAVE_MAX_OUTSTANDING_PROPOSALS,
      },
      'log-level': { type: 'string', default: process.env.CONCLAVE_LOG_LEVEL ?? 'info' },
    },
  });
  if (values.config === undefined || values.id === undefined || values['data-dir'] === undefined) {
    throw new Error(
      'usage: member-main --config FILE --id N --data-dir DIR [--no-fsync] [--snapshot-every N] [--cleanup-interval-ms MS] [--max-outstanding-proposals N] [--exit-with-parent]',
    );
  }
  // Watched before the (possibly slow) start: a supervisor that dies meanwhile must not leave us behind.
  let parentGone = false;
  let onParentGone = () => {
    parentGone = true;
  };
  if (values['exit-with-parent']) watchParent(() => onParentGone());
  const config = await loadEnsembleConfig(values.config);
  const maxOutstanding = positiveInt(values['max-outstanding-proposals'], '--max-outstanding-proposals');
  const logger = pino({ level: values['log-level'] }, pino.destination(2));
  const member = await startMember({
    config,
    id: Number(values.id),
    dataDir: values['data-dir'],
    server: {
      fsync: !values['no-fsync'],
      ...(values['snapshot-every'] !== undefined
        ? { snapshotEveryTxns: Number(values['snapshot-every']) }
        : {}),
      ...(values['cleanup-interval-ms'] !== undefined
        ? { cleanupIntervalMs: Number(values['cleanup-interval-ms']) }
        : {}),
    },
    ...(maxOutstanding !== undefined ? { maxOutstandingProposals: maxOutstanding } : {}),
    logger,
    onFatal: () => {
      process.exitCode = 1;
      void member.close().finally(() => process.exit(1));
    },
  });
  process.stdout.write(
    `${JSON.stringify({ ready: true, id: member.id, connectString: member.connectString })}\n`,
  );
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    // A clean close that hangs must not keep the process alive (the harness is gone or waiting).
    setTimeout(() => process.exit(0), 10_000).unref();
    void member.close().then(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  onParentGone = () => {
    logger.info('the supervising process is gone (stdin closed); shutting down');
    stop();
  };
  if (parentGone) onParentGone();
}

function positiveInt(value: string | undefined, flag: string): number | undefined {
  if (value === undefined || value === '') return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`${flag} must be a positive integer, got ${value}`);
  return n;
}

/**
 * Calls `gone` once stdin reaches end-of-file or fails: the supervisor holding its write end
 * exited. The stream is read (and whatever arrives discarded) so that EOF is noticed.
 */
function watchParent(gone: () => void): void {
  let fired = false;
  const once = () => {
    if (fired) return;
    fired = true;
    gone();
  };
  process.stdin.on('data', () => {});
  process.stdin.once('end', once);
  process.stdin.once('close', once);
  process.stdin.once('error', once);
}

main().catch((err: Error) => {
  process.stderr.write(`${err.stack ?? err.message}\n`);
  process.exit(1);
});
