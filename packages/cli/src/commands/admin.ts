import type { ShellOutput } from '../shell/verbs.js';

export const ADMIN_COMMANDS = ['ruok', 'srvr', 'stat', 'mntr', 'cons', 'wchs', 'dump'] as const;

/** `conclave admin --server HOST:PORT <cmd>`: GET http://HOST:PORT/admin/<cmd> and print it. */
export async function runAdminCommand(server: string, cmd: string, io: ShellOutput): Promise<number> {
  if (!(ADMIN_COMMANDS as readonly string[]).includes(cmd)) {
    io.err(`unknown admin command ${JSON.stringify(cmd)}; use one of ${ADMIN_COMMANDS.join(', ')}`);
    return 2;
  }
  const url = `http://${server}/admin/${cmd}`;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
    const body = await res.text();
    if (!res.ok) {
      io.err(`${url} answered ${res.status}: ${body.trim()}`);
      return 1;
    }
    io.out(body.replace(/\n$/, ''));
    return cmd === 'ruok' && body.trim() !== 'imok' ? 1 : 0;
  } catch (err) {
    io.err(`cannot reach ${url}: ${(err as Error).message}`);
    io.err('hint: is a server running there? (conclave server --data-dir DIR)');
    return 1;
  }
}
