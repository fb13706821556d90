import { parseArgs } from 'node:util';
import pino from 'pino';
import { loadEnsembleConfig } from './config.js';
import { startMember } from './member.js';

/**
 * The process entry of one ensemble member (what startEnsemble spawns, and what
 * `conclave server --config` will run):
 *
 *   node member-main.js --config ensemble.json --id 2 --data-dir /var/lib/conclave/2 [--no-fsync]
 *
 * Prints one JSON line `{"ready":true,...}` on stdout once both ports are bound; logs go to
 * stderr. SIGTERM/SIGINT close it cleanly; a fatal member error exits with status 1.
 */
async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      config: { type: 'string' },
      id: { type: 'string' },
      'data-dir': { type: 'string' },
      'no-fsync': { type: 'boolean', default: false },
      'snapshot-every': { type: 'string' },
      'log-level': { type: 'string', default: process.env.CONCLAVE_LOG_LEVEL ?? 'info' },
    },
  });
  if (values.config === undefined || values.id === undefined || values['data-dir'] === undefined) {
    throw new Error(
      'usage: member-main --config FILE --id N --data-dir DIR [--no-fsync] [--snapshot-every N]',
    );
  }
  const config = await loadEnsembleConfig(values.config);
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
    },
    logger,
    onFatal: () => {
      process.exitCode = 1;
      void member.close().finally(() => process.exit(1));
    },
  });
  process.stdout.write(
    `${JSON.stringify({ ready: true, id: member.id, connectString: member.connectString })}\n`,
  );
  const stop = () => {
    void member.close().then(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((err: Error) => {
  process.stderr.write(`${err.stack ?? err.message}\n`);
  process.exit(1);
});
