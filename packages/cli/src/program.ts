import { Command, InvalidArgumentError, Option } from 'commander';
import { ADMIN_COMMANDS, runAdminCommand } from './commands/admin.js';
import { consoleOutput, runCliCommand } from './commands/cli.js';
import { runEnsembleCommand, runEnsembleMemberCommand } from './commands/ensemble.js';
import { runServerCommand, type ServerCommandOptions } from './commands/server.js';

function intArg(what: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0)
      throw new InvalidArgumentError(`${what} must be a non-negative integer`);
    return n;
  };
}

/** `conclave server`'s parsed flags (commander's camelCase names) as ServerCommandOptions. */
export function serverCommandOptions(o: Record<string, unknown>): ServerCommandOptions {
  const r: ServerCommandOptions = {
    dataDir: o.dataDir as string,
    port: o.port as number,
    host: o.host as string,
    tickMs: o.tickMs as number,
    fsync: o.fsync as boolean,
    logLevel: o.logLevel as string,
    json: o.jsonLogs === true,
  };
  if (o.superDigest !== undefined) r.superDigest = o.superDigest as string;
  if (o.maxSessionTimeout !== undefined) r.maxSessionTimeoutMs = o.maxSessionTimeout as number;
  if (o.maxClientCnxns !== undefined) r.maxConnectionsPerIp = o.maxClientCnxns as number;
  return r;
}

/**
 * The `conclave` command. Sub-commands set `exitCode` in the returned holder rather than
 * calling process.exit, so they can be run in-process by tests.
 */
export function buildProgram(result: { exitCode: number }): Command {
  const program = new Command('conclave')
    .description('Conclave: a ZooKeeper-class coordination service')
    .enablePositionalOptions()
    .showHelpAfterError();

  program
    .command('server')
    .description('run a standalone server in the foreground (Ctrl-C to stop)')
    .requiredOption('--data-dir <dir>', 'directory for the txn log and snapshots')
    .option('--port <port>', 'port for clients and /admin', intArg('port'), 2181)
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--tick-ms <ms>', 'tick: the unit of session timeouts', intArg('tick-ms'), 2000)
    .option('--no-fsync', 'skip fsync (UNSAFE: acknowledged writes may be lost on power failure)')
    .addOption(
      new Option('--log-level <level>', 'log level')
        .choices(['debug', 'info', 'warn', 'error'])
        .default('info'),
    )
    .option('--json-logs', 'log JSON lines instead of readable text')
    .option(
      '--super-digest <digest>',
      "super user: 'user:<base64 sha1 of user:password>', as ZooKeeper's superDigest; addauth digest user:password grants every permission",
    )
    .option(
      '--max-session-timeout <ms>',
      'largest session timeout a client may negotiate (default 20 × tick)',
      intArg('max-session-timeout'),
    )
    .option(
      '--max-client-cnxns <n>',
      "connections one client address may hold, as ZooKeeper's maxClientCnxns (default 60; 0 = no limit)",
      intArg('max-client-cnxns'),
    )
    .option(
      '--config <file>',
      'ensemble file (JSON): run as member --id of that ensemble; a member listed with "role": "observer" runs as an observer',
    )
    .option('--id <n>', "this member's id in --config", intArg('id'))
    .action(async (o) => {
      if (o.config !== undefined) {
        if (
          o.superDigest !== undefined ||
          o.maxSessionTimeout !== undefined ||
          o.maxClientCnxns !== undefined
        ) {
          process.stderr.write(
            'conclave server: --super-digest, --max-session-timeout and --max-client-cnxns apply to a standalone server, not with --config\n',
          );
          result.exitCode = 1;
          return;
        }
        if (o.id === undefined) {
          process.stderr.write("conclave server: --config needs --id (this member's id in the file)\n");
          result.exitCode = 1;
          return;
        }
        result.exitCode = await runEnsembleMemberCommand({
          config: o.config,
          id: o.id,
          dataDir: o.dataDir,
          fsync: o.fsync,
          logLevel: o.logLevel,
          json: o.jsonLogs === true,
        });
        return;
      }
      result.exitCode = await runServerCommand(serverCommandOptions(o));
    });

  program
    .command('ensemble')
    .description('run a local ensemble of real member processes, supervised (Ctrl-C stops them all)')
    .requiredOption('--data-dir <dir>', "parent of the members' data directories")
    .option('--size <n>', 'voting members', intArg('size'), 3)
    .option(
      '--observers <n>',
      'non-voting members (ids after the voters): they serve clients and forward writes, never vote',
      intArg('observers'),
      0,
    )
    .option(
      '--base-port <port>',
      'client ports base..base+size-1, quorum ports base+1000..; 0 picks free ports',
      intArg('base-port'),
      2181,
    )
    .option('--tick-ms <ms>', 'tick: the unit of session timeouts and sync limits', intArg('tick-ms'), 2000)
    .option('--no-fsync', 'skip fsync (UNSAFE: acknowledged writes may be lost on power failure)')
    .addOption(
      new Option('--log-level <level>', "members' log level (JSON lines on stderr)")
        .choices(['debug', 'info', 'warn', 'error'])
        .default('warn'),
    )
    .action(async (o) => {
      result.exitCode = await runEnsembleCommand({
        size: o.size,
        observers: o.observers,
        dataDir: o.dataDir,
        basePort: o.basePort,
        tickMs: o.tickMs,
        fsync: o.fsync,
        logLevel: o.logLevel,
      });
    });

  program
    .command('cli')
    .description(
      'zkCli-style commands (ls, get, set, create, delete, deleteall, stat, sync, getAcl, setAcl, addauth); no command: interactive shell',
    )
    .option('--server <host:port>', 'server to connect to', '127.0.0.1:2181')
    .option('--timeout <ms>', 'session timeout', intArg('timeout'), 30000)
    .argument('[command...]', 'a command and its arguments, e.g. ls -R /')
    .passThroughOptions()
    .allowUnknownOption()
    .action(async (words: string[], o) => {
      result.exitCode = await runCliCommand(o.server, words, { timeoutMs: o.timeout });
    });

  program
    .command('admin')
    .description('four-letter-word admin commands over HTTP')
    .option('--server <host:port>', 'server to ask', '127.0.0.1:2181')
    .argument('<command>', ADMIN_COMMANDS.join('|'))
    .action(async (cmd: string, o) => {
      result.exitCode = await runAdminCommand(o.server, cmd, consoleOutput);
    });

  return program;
}

/** Runs the `conclave` command line; resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  const result = { exitCode: 0 };
  const program = buildProgram(result);
  program.exitOverride();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    const code = (err as { exitCode?: number }).exitCode;
    return typeof code === 'number' ? code : 1;
  }
  return result.exitCode;
}
