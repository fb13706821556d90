import { readFile, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import readline from 'node:readline';
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

const HISTORY_FILE = join(homedir(), '.conclave_history');
const HISTORY_SIZE = 1000;

/** The interactive zkCli-style shell; resolves when the user quits (or input ends). */
export async function interactiveShell(
  client: ShellClient,
  connectString: string,
  io: ShellOutput,
  input: NodeJS.ReadableStream = process.stdin,
  output: NodeJS.WritableStream = process.stdout,
): Promise<void> {
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
  const prompt = () => {
    rl.setPrompt(`[conclave: ${connectString} ${n++}] `);
    rl.prompt();
  };
  prompt();
  for await (const line of rl) {
    const words = splitWords(line);
    if (words[0] === 'quit' || words[0] === 'exit') break;
    if (words.length > 0) await runVerb(client, words, io);
    prompt();
  }
  rl.close();
  if (terminal) {
    const lines = (rl as unknown as { history: string[] }).history ?? [];
    await writeFile(HISTORY_FILE, `${[...lines].reverse().slice(-HISTORY_SIZE).join('\n')}\n`).catch(
      () => {},
    );
  }
}
