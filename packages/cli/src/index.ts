// Public API of @conclave/cli (the binary is src/bin.ts).
export { runAdminCommand } from './commands/admin.js';
export { runCliCommand } from './commands/cli.js';
export {
  readableLogStream,
  runServerCommand,
  type ServerCommandOptions,
  serverOptionsOf,
} from './commands/server.js';
export { buildProgram, main, serverCommandOptions } from './program.js';
export { describeError, formatAcl, formatStat } from './shell/format.js';
export { complete, interactiveShell, type ShellOptions, splitWords } from './shell/interactive.js';
export { parseAcl, runVerb, type ShellClient, type ShellOutput, UsageError, VERBS } from './shell/verbs.js';
export { runEnsembleCommand, runEnsembleMemberCommand } from './commands/ensemble.js';
