import { Writable } from 'node:stream';
import { startServer } from '@conclave/server';
import pino from 'pino';

export interface ServerCommandOptions {
  dataDir: string;
  port: number;
  host: string;
  tickMs: number;
  fsync: boolean;
  logLevel: string;
  json: boolean;
}

const LEVELS: Record<number, string> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
};

/** pino's JSON lines rendered for people: `12:00:01.123 INFO  serving host=127.0.0.1 port=2181`. */
export function readableLogStream(out: NodeJS.WritableStream = process.stderr): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line === '') continue;
        try {
          const {
            level,
            time,
            msg,
            pid: _pid,
            hostname: _h,
            err,
            ...rest
          } = JSON.parse(line) as Record<string, unknown>;
          const t = new Date(Number(time)).toISOString().slice(11, 23);
          const fields = Object.entries(rest)
            .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
            .join(' ');
          const e = err as { message?: string; stack?: string } | undefined;
          out.write(
            `${t} ${(LEVELS[Number(level)] ?? String(level)).padEnd(5)} ${msg ?? ''}${fields ? ` ${fields}` : ''}\n` +
              (e ? `${e.stack ?? e.message}\n` : ''),
          );
        } catch {
          out.write(`${line}\n`);
        }
      }
      cb();
    },
  });
}

/**
 * `conclave server`: a foreground standalone member. Prints the connect string on stdout once
 * serving; SIGINT/SIGTERM close it cleanly (pending writes made durable, storage closed).
 */
export async function runServerCommand(o: ServerCommandOptions): Promise<number> {
  const logger = pino({ level: o.logLevel }, o.json ? pino.destination(2) : readableLogStream());
  let server: Awaited<ReturnType<typeof startServer>>;
  let fatal: ((err: Error) => void) | undefined;
  try {
    server = await startServer({
      dataDir: o.dataDir,
      port: o.port,
      host: o.host,
      tickMs: o.tickMs,
      fsync: o.fsync,
      logger,
      onFatal: (err) => fatal?.(err),
    });
  } catch (err) {
    logger.fatal({ err }, 'server failed to start');
    process.stderr.write(`conclave server: ${(err as Error).message}\n`);
    return 1;
  }
  process.stdout.write(`Conclave serving at ${server.connectString} (admin ${server.adminUrl}/ruok)\n`);
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, 'shutting down');
      server.close().then(
        () => resolve(0),
        (err: unknown) => {
          logger.error({ err }, 'error during shutdown');
          resolve(1);
        },
      );
    };
    fatal = (err) => {
      if (stopping) return;
      stopping = true;
      process.stderr.write(`conclave server: stopped serving: ${err.message}\n`);
      server.close().finally(() => resolve(1));
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
}
