import { Writable } from 'node:stream';
import { type ServerOptions, startServer } from '@conclave/server';
import pino, { type Logger } from 'pino';

export interface ServerCommandOptions {
  dataDir: string;
  port: number;
  host: string;
  tickMs: number;
  fsync: boolean;
  logLevel: string;
  json: boolean;
  /** `user:base64(sha1(user:password))`: whoever adds that digest auth is the super user. */
  superDigest?: string;
  /** Upper bound of negotiated session timeouts; default 20 × tickMs. */
  maxSessionTimeoutMs?: number;
  /** Connections one client address may hold (ZooKeeper's maxClientCnxns); 0 = no limit. Default 60. */
  maxConnectionsPerIp?: number;
}

/** ZooKeeper's superDigest form: a user name, ':', and the 28-character base64 of a SHA-1. */
const SUPER_DIGEST = /^[^:\s]+:[A-Za-z0-9+/]{27}=$/;

/**
 * The startServer options a `conclave server` command line asks for. Throws RangeError (with
 * what to do) for a malformed --super-digest; startServer checks the rest.
 */
export function serverOptionsOf(o: ServerCommandOptions, logger?: Logger): ServerOptions {
  if (o.superDigest !== undefined && !SUPER_DIGEST.test(o.superDigest)) {
    throw new RangeError(
      "--super-digest must be 'user:<base64 sha1>' as ZooKeeper's superDigest, e.g. super:D/InIHSb7yEEbrWz8b9l71RjZJU= " +
        "(echo -n 'super:PASSWORD' | openssl dgst -sha1 -binary | base64)",
    );
  }
  const options: ServerOptions = {
    dataDir: o.dataDir,
    port: o.port,
    host: o.host,
    tickMs: o.tickMs,
    fsync: o.fsync,
  };
  if (logger !== undefined) options.logger = logger;
  if (o.superDigest !== undefined) options.superDigest = o.superDigest;
  if (o.maxSessionTimeoutMs !== undefined) options.maxSessionTimeoutMs = o.maxSessionTimeoutMs;
  if (o.maxConnectionsPerIp !== undefined) options.maxConnectionsPerIp = o.maxConnectionsPerIp;
  return options;
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
    server = await startServer({ ...serverOptionsOf(o, logger), onFatal: (err) => fatal?.(err) });
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
