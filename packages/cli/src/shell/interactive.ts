import { readFile, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import readline from 'node:readline';
import { describeError, hex } from './format.js';
import { runVerb, type ShellClient, type ShellOutput, VERBS } from './verbs.js';

/** Splits a command line into words; "double" or 'single' quotes keep spaces. */
export function splitWords(line: string): string[] {
  const words: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|'([^']*)'|(\S+)/g;
  for (let m = re.exec(line); m !== null; m = re.exec(line)) {
    words.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : (m[2] ?? m[3]!));
  }
  return words;
}

/** Completes the verb (first word) or a znode path (any word starting with '/'). */
export async function complete(client: ShellClient, line: string): Promise<[string[], string]> {
  const words = line.split(/\s+/);
  const last = words[words.length - 1] ?? '';
  if (words.length <= 1) {
    const verbs = [...Object.keys(VERBS), 'quit'].filter((v) => v.startsWith(last));
    return [verbs, last];
  }
  if (!last.startsWith('/')) return [[], last];
  const slash = last.lastIndexOf('/');
  const parent = slash === 0 ? '/' : last.slice(0, slash);
  const prefix = last.slice(slash + 1);
  try {
    const { children } = await client.getChildren(parent);
    const base = parent === '/' ? '/' : `${parent}/`;
    return [
      children
        .filter((c) => c.startsWith(prefix))
        .sort()
        .map((c) => base + c),
      last,
    ];
  } catch {
    return [[], last];
  }
}

/** What {@link interactiveShell} does when the session has expired. */
export interface ShellOptions {
  /**
   * Opens a new session (a new client). Without it, the shell stops with exit code 1 when it
   * finds the session expired, instead of sending commands through a dead client.
   */
  reconnect?: () => Promise<ShellClient>;
}

const HISTORY_FILE = join(homedir(), '.conclave_history');
const HISTORY_SIZE = 1000;

/**
 * The interactive zkCli-style shell; resolves with the exit code when the user quits (or input
 * ends): 0, or 1 when it stopped because the session expired and could not be replaced.
 *
 * An expired session cannot serve anything again (its ephemeral nodes and watches are gone), so
 * before each command the shell checks the client's state: when EXPIRED it says so and opens a
 * new session with `opts.reconnect`, or stops.
 */
export async function interactiveShell(
  initialClient: ShellClient,
  connectString: string,
  io: ShellOutput,
  input: NodeJS.ReadableStream = process.stdin,
  output: NodeJS.WritableStream = process.stdout,
  opts: ShellOptions = {},
): Promise<number> {
  let client = initialClient;
  const terminal = (input as { isTTY?: boolean }).isTTY === true;
  let history: string[] = [];
  if (terminal) {
    history = (await readFile(HISTORY_FILE, 'utf8').catch(() => '')).split('\n').filter(Boolean).reverse();
  }
  const rl = readline.createInterface({
    input,
    output,
    terminal,
    history,
    historySize: HISTORY_SIZE,
    completer: (line: string, cb: (err: Error | null, result: [string[], string]) => void) => {
      complete(client, line).then(
        (r) => cb(null, r),
        () => cb(null, [[], line]),
      );
    },
  });
  let n = 0;
  let exitCode = 0;
  const prompt = () => {
    rl.setPrompt(`[conclave: ${connectString} ${n++}] `);
    rl.prompt();
  };
  /** False when the session expired and no new one could be had: the shell must stop. */
  const ensureSession = async (): Promise<boolean> => {
    if (client.state !== 'EXPIRED') return true;
    const id = client.sessionId === undefined ? '' : ` ${hex(client.sessionId)}`;
    io.err(`Session${id} expired: the server discarded it, with its ephemeral nodes and watches.`);
    if (opts.reconnect === undefined) {
      io.err('Exiting: start the cli again for a new session.');
      return false;
    }
    io.err(`Reconnecting to ${connectString} with a new session...`);
    try {
      client = await opts.reconnect();
    } catch (err) {
      for (const text of describeError(err)) io.err(text);
      io.err('Exiting: could not open a new session.');
      return false;
    }
    const newId = client.sessionId === undefined ? '' : ` ${hex(client.sessionId)}`;
    io.err(`Connected: new session${newId}.`);
    return true;
  };
  prompt();
  for await (const line of rl) {
    const words = splitWords(line);
    if (words[0] === 'quit' || words[0] === 'exit') break;
    if (words.length > 0) {
      if (!(await ensureSession())) {
        exitCode = 1;
        break;
      }
      await runVerb(client, words, io);
    }
    prompt();
  }
  rl.close();
  if (terminal) {
    const lines = (rl as unknown as { history: string[] }).history ?? [];
    await writeFile(HISTORY_FILE, `${[...lines].reverse().slice(-HISTORY_SIZE).join('\n')}\n`).catch(
      () => {},
    );
  }
  return exitCode;
}
