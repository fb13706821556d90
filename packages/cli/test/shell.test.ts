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
