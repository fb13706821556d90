import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { type ConclaveClient, connect } from '@conclave/client';
import { type Server, startServer } from '@conclave/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { complete, interactiveShell, parseAcl, runVerb, type ShellClient, splitWords } from '../src/index.js';

/** The shell's pieces in-process, against a real server and client (fast; the binary is tested in cli.test.ts). */
describe('shell', () => {
  let dir: string;
  let server: Server;
  let client: ConclaveClient;
  let shell: ShellClient;
  const out: string[] = [];
  const err: string[] = [];
  const io = { out: (t: string) => out.push(t), err: (t: string) => err.push(t) };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'conclave-shell-'));
    server = await startServer({ dataDir: dir, fsync: false });
    client = await connect(server.connectString);
    shell = client as unknown as ShellClient;
  });
  afterAll(async () => {
    await client?.close();
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('splits words with quotes', () => {
    expect(splitWords(`create /a "hello world" 'x y'`)).toEqual(['create', '/a', 'hello world', 'x y']);
    expect(splitWords('  ls   -R  / ')).toEqual(['ls', '-R', '/']);
  });

  it('parses zkCli ACLs', () => {
    expect(parseAcl('world:anyone:cdrwa,digest:bob:abc=:r')).toEqual([
      { perms: 31, id: { scheme: 'world', id: 'anyone' } },
      { perms: 1, id: { scheme: 'digest', id: 'bob:abc=' } },
    ]);
    expect(() => parseAcl('world:anyone:xyz')).toThrow(/cdrwa/);
  });

  it('completes verbs and znode paths', async () => {
    await runVerb(shell, ['create', '/alpha'], io);
    await runVerb(shell, ['create', '/alpha/one'], io);
    await runVerb(shell, ['create', '/alpha/two'], io);
    await runVerb(shell, ['create', '/beta'], io);
    expect(await complete(shell, 'de')).toEqual([['delete', 'deleteall'], 'de']);
    expect(await complete(shell, 'get /al')).toEqual([['/alpha'], '/al']);
    expect(await complete(shell, 'ls /alpha/')).toEqual([['/alpha/one', '/alpha/two'], '/alpha/']);
    expect(await complete(shell, 'ls /nothing/x')).toEqual([[], '/nothing/x']);
  });

  it('get -w prints the watch event when it fires', async () => {
    out.length = 0;
    await runVerb(shell, ['create', '/watched', 'a'], io);
    expect(await runVerb(shell, ['get', '-w', '/watched'], io)).toBe(0);
    await runVerb(shell, ['set', '/watched', 'b'], io);
    const deadline = Date.now() + 5000;
    while (!out.some((l) => l.includes('type:NodeDataChanged path:/watched')) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(out.join('\n')).toContain('WatchedEvent state:SyncConnected type:NodeDataChanged path:/watched');
  });

  it('the interactive loop runs commands until quit', async () => {
    const input = new PassThrough();
    const output = new PassThrough();
    output.resume();
    out.length = 0;
    const done = interactiveShell(shell, server.connectString, io, input, output);
    input.end('create /inter x\nget /inter\nquit\nls /\n');
    await done;
    expect(out).toEqual(['Created /inter', 'x']);
  });
});

/** A session the server no longer knows: the shell must notice instead of using a dead client. */
describe('shell with an expired session', () => {
  const dirs: string[] = [];
  const servers: Server[] = [];
  afterAll(async () => {
    for (const s of servers) await s.close();
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  /** A client whose session expired: its server is replaced, on the same port, by one that never knew it. */
  async function expiredClient(): Promise<{ client: ConclaveClient; address: string }> {
    const first = await mkdtemp(join(tmpdir(), 'conclave-shell-exp-'));
    const second = await mkdtemp(join(tmpdir(), 'conclave-shell-exp-'));
    dirs.push(first, second);
    const old = await startServer({ dataDir: first, fsync: false });
    const c = await connect(old.connectString, { sessionTimeoutMs: 4000 });
    await old.close();
    const fresh = await startServer({ dataDir: second, fsync: false, port: old.port });
    servers.push(fresh);
    const deadline = Date.now() + 30_000;
    while (c.state !== 'EXPIRED') {
      if (Date.now() > deadline) throw new Error(`client never saw its session expire (state ${c.state})`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return { client: c, address: fresh.connectString };
  }

  it('says the session expired, opens a new one and runs the command there', async () => {
    const { client: dead, address } = await expiredClient();
    const out: string[] = [];
    const err: string[] = [];
    const io = { out: (t: string) => out.push(t), err: (t: string) => err.push(t) };
    let fresh: ConclaveClient | undefined;
    const input = new PassThrough();
    const output = new PassThrough();
    output.resume();
    const done = interactiveShell(dead as unknown as ShellClient, address, io, input, output, {
      reconnect: async () => {
        fresh = await connect(address);
        return fresh as unknown as ShellClient;
      },
    });
    input.end('create /fresh x\nget /fresh\nquit\n');
    expect(await done).toBe(0);
    expect(err[0]).toMatch(
      /^Session 0x[0-9a-f]+ expired: the server discarded it, with its ephemeral nodes and watches\.$/,
    );
    expect(err.slice(1)).toEqual([
      `Reconnecting to ${address} with a new session...`,
      `Connected: new session 0x${BigInt.asUintN(64, fresh!.sessionId).toString(16)}.`,
    ]);
    expect(out).toEqual(['Created /fresh', 'x']);
    await Promise.all([fresh!.close(), dead.close()]);
  }, 60_000);

  it('without a way to reconnect it stops with exit code 1 and a clear message', async () => {
    const { client: dead, address } = await expiredClient();
    const out: string[] = [];
    const err: string[] = [];
    const input = new PassThrough();
    const output = new PassThrough();
    output.resume();
    const done = interactiveShell(
      dead as unknown as ShellClient,
      address,
      { out: (t) => out.push(t), err: (t) => err.push(t) },
      input,
      output,
    );
    input.end('ls /\nget /x\n');
    expect(await done).toBe(1);
    expect(out).toEqual([]);
    expect(err.at(-1)).toBe('Exiting: start the cli again for a new session.');
    await dead.close();
  }, 60_000);
});
