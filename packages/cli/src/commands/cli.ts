import { connect } from '@conclave/client';
import { describeError } from '../shell/format.js';
import { interactiveShell } from '../shell/interactive.js';
import { runVerb, type ShellClient, type ShellOutput } from '../shell/verbs.js';

export const consoleOutput: ShellOutput = {
  out: (t) => process.stdout.write(`${t}\n`),
  err: (t) => process.stderr.write(`${t}\n`),
};

/** `conclave cli --server HOST:PORT [command…]`: one verb, or the interactive shell. */
export async function runCliCommand(
  server: string,
  words: string[],
  opts: { timeoutMs: number },
  io: ShellOutput = consoleOutput,
): Promise<number> {
  let client: Awaited<ReturnType<typeof connect>>;
  const open = () =>
    connect(server, {
      sessionTimeoutMs: opts.timeoutMs,
      signal: AbortSignal.timeout(Math.max(5000, opts.timeoutMs)),
      retry: { retries: 2 },
    });
  try {
    client = await open();
  } catch (err) {
    for (const line of describeError(err)) io.err(line);
    io.err(
      `hint: could not connect to ${server}; is a server running there? (conclave server --data-dir DIR)`,
    );
    return 1;
  }
  try {
    if (words.length === 0) {
      // An expired session is replaced by a new one (the shell says so), never used again.
      const reconnect = async (): Promise<ShellClient> => {
        const fresh = await open();
        const dead = client;
        client = fresh;
        await dead.close().catch(() => {});
        return fresh as unknown as ShellClient;
      };
      return await interactiveShell(client as unknown as ShellClient, server, io, undefined, undefined, {
        reconnect,
      });
    }
    return await runVerb(client as unknown as ShellClient, words, io);
  } finally {
    await client.close().catch(() => {});
  }
}
