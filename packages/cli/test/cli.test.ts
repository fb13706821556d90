import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { conclave, ensureBuilt, type ServerProcess, startServerProcess } from './e2e.js';

/** The real `conclave` binary end to end: a server process, then cli and admin invocations against it. */
describe('conclave binary', () => {
  let dir: string;
  let server: ServerProcess;
  let S: string;

  beforeAll(async () => {
    ensureBuilt();
    dir = await mkdtemp(join(tmpdir(), 'conclave-cli-'));
    server = await startServerProcess(dir);
    S = server.address;
  }, 180_000);
  afterAll(async () => {
    if (server.proc.exitCode === null) {
      server.proc.kill('SIGKILL');
      await new Promise((r) => server.proc.once('exit', r));
    }
    await rm(dir, { recursive: true, force: true });
  });

  it('create, get, set, ls, stat, delete', async () => {
    expect(await conclave(['cli', '--server', S, 'create', '/app', 'hello'])).toMatchObject({
      code: 0,
      stdout: 'Created /app\n',
    });
    expect((await conclave(['cli', '--server', S, 'create', '-s', '/app/job-', 'x'])).stdout).toBe(
      'Created /app/job-0000000000\n',
    );
    expect((await conclave(['cli', '--server', S, 'get', '/app'])).stdout).toBe('hello\n');
    const set = await conclave(['cli', '--server', S, 'set', '-s', '-v', '0', '/app', 'world']);
    expect(set.code).toBe(0);
    expect(set.stdout).toMatch(/dataVersion = 1/);
    const get = await conclave(['cli', '--server', S, 'get', '-s', '/app']);
    expect(get.stdout).toMatch(/^world\ncZxid = 0x[0-9a-f]+\n/);
    expect((await conclave(['cli', '--server', S, 'ls', '/app'])).stdout).toBe('[job-0000000000]\n');
    expect((await conclave(['cli', '--server', S, 'ls', '-R', '/app'])).stdout).toBe(
      '/app\n/app/job-0000000000\n',
    );
    expect((await conclave(['cli', '--server', S, 'stat', '/app'])).stdout).toMatch(/numChildren = 1/);
    expect((await conclave(['cli', '--server', S, 'sync', '/app'])).stdout).toBe('Sync is OK\n');
    expect((await conclave(['cli', '--server', S, 'delete', '/app/job-0000000000'])).code).toBe(0);
  });

  it('errors print the ZooKeeper name and a hint, with a non-zero exit code', async () => {
    const none = await conclave(['cli', '--server', S, 'get', '/missing']);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/^Node does not exist: \/missing \(NONODE\)\nhint: /);
    const exists = await conclave(['cli', '--server', S, 'create', '/dup']);
    expect(exists.code).toBe(0);
    const again = await conclave(['cli', '--server', S, 'create', '/dup']);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/Node already exists: \/dup \(NODEEXISTS\)/);
    await conclave(['cli', '--server', S, 'create', '/dup/kid']);
    const notEmpty = await conclave(['cli', '--server', S, 'delete', '/dup']);
    expect(notEmpty.stderr).toMatch(/Node not empty: \/dup \(NOTEMPTY\)\nhint: .*deleteall/);
    const badVersion = await conclave(['cli', '--server', S, 'set', '-v', '9', '/dup', 'x']);
    expect(badVersion.stderr).toMatch(/BADVERSION/);
    const usage = await conclave(['cli', '--server', S, 'create']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/usage: create/);
    const unreachable = await conclave(['cli', '--server', '127.0.0.1:1', '--timeout', '1000', 'ls', '/']);
    expect(unreachable.code).not.toBe(0);
    expect(unreachable.stderr).toMatch(/could not connect to 127\.0\.0\.1:1/);
  });

  it('deleteall removes a subtree', async () => {
    await conclave(['cli', '--server', S, 'create', '/tree']);
    await conclave(['cli', '--server', S, 'create', '/tree/a']);
    await conclave(['cli', '--server', S, 'create', '/tree/a/b']);
    expect((await conclave(['cli', '--server', S, 'deleteall', '/tree'])).code).toBe(0);
    expect((await conclave(['cli', '--server', S, 'stat', '/tree'])).code).toBe(1);
  });

  it('ACLs: setAcl, getAcl, addauth', async () => {
    await conclave(['cli', '--server', S, 'create', '/locked', 'secret']);
    const acl = 'digest:bob:ikIaKsbtGweaHnb/jKn7OHqbunM=:cdrwa';
    expect((await conclave(['cli', '--server', S, 'setAcl', '/locked', acl])).code).toBe(0);
    const denied = await conclave(['cli', '--server', S, 'get', '/locked']);
    expect(denied.code).toBe(1);
    expect(denied.stderr).toMatch(/Insufficient permission : \/locked \(NOAUTH\)\nhint: .*addauth/);
    // one shell session: addauth then read
    const shell = await conclave(
      ['cli', '--server', S],
      'addauth digest bob:pw\nget /locked\ngetAcl /locked\nquit\n',
    );
    expect(shell.code).toBe(0);
    expect(shell.stdout).toContain('secret');
    expect(shell.stdout).toContain("'digest,'bob:ikIaKsbtGweaHnb/jKn7OHqbunM=\n: cdrwa");
  });

  it('create flags: ephemeral, container, TTL', async () => {
    expect((await conclave(['cli', '--server', S, 'create', '-c', '/box'])).code).toBe(0);
    expect((await conclave(['cli', '--server', S, 'create', '-t', '60000', '/ttl'])).code).toBe(0);
    // the ephemeral goes with the cli's session when the command ends
    expect((await conclave(['cli', '--server', S, 'create', '-e', '/gone'])).code).toBe(0);
    expect((await conclave(['cli', '--server', S, 'stat', '/gone'])).code).toBe(1);
    const conflict = await conclave(['cli', '--server', S, 'create', '-c', '-e', '/bad']);
    expect(conflict.code).toBe(2);
  });

  it('the interactive shell reads commands from stdin', async () => {
    const r = await conclave(['cli', '--server', S], 'create /sh one\nls /sh\nget /sh\nstat /nope\nquit\n');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Created /sh');
    expect(r.stdout).toContain('one');
    expect(r.stderr).toContain('Node does not exist: /nope');
  });

  it('admin commands', async () => {
    expect(await conclave(['admin', '--server', S, 'ruok'])).toMatchObject({ code: 0, stdout: 'imok\n' });
    expect((await conclave(['admin', '--server', S, 'srvr'])).stdout).toMatch(/Mode: standalone/);
    expect((await conclave(['admin', '--server', S, 'mntr'])).stdout).toMatch(/^zk_znode_count \d+$/m);
    for (const cmd of ['stat', 'cons', 'wchs', 'dump'])
      expect((await conclave(['admin', '--server', S, cmd])).code).toBe(0);
    const bad = await conclave(['admin', '--server', S, 'nope']);
    expect(bad.code).toBe(2);
  });

  it('the server shuts down cleanly on SIGTERM, with readable logs', async () => {
    const code = await new Promise<number | null>((resolve) => {
      server.proc.once('exit', (c) => resolve(c));
      server.proc.kill('SIGTERM');
    });
    expect(code).toBe(0);
    expect(server.stderr()).toMatch(/INFO +serving host=127\.0\.0\.1/);
    expect(server.stderr()).toMatch(/shutting down signal=SIGTERM/);
  });
});
