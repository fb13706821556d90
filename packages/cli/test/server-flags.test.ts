import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@conclave/client';
import { Perms } from '@conclave/core';
import { digestId, type Server, startServer } from '@conclave/server';
import { afterEach, describe, expect, it } from 'vitest';
import {
  buildProgram,
  type ServerCommandOptions,
  serverCommandOptions,
  serverOptionsOf,
} from '../src/index.js';

/** Parses a `conclave server …` command line with the real program, without running the server. */
async function parseServerFlags(args: string[]): Promise<ServerCommandOptions> {
  const program = buildProgram({ exitCode: 0 });
  program.exitOverride();
  const cmd = program.commands.find((c) => c.name() === 'server')!;
  cmd.exitOverride();
  let parsed: Record<string, unknown> | undefined;
  cmd.action(async (o: Record<string, unknown>) => {
    parsed = o;
  });
  await program.parseAsync(['server', ...args], { from: 'user' });
  return serverCommandOptions(parsed!);
}

describe('conclave server flags', () => {
  let dir: string | undefined;
  let server: Server | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('--super-digest, --max-session-timeout and --max-client-cnxns reach startServer and take effect', async () => {
    dir = await mkdtemp(join(tmpdir(), 'conclave-flags-'));
    const superDigest = digestId('super', 'pw');
    const o = await parseServerFlags([
      '--data-dir',
      dir,
      '--port',
      '0',
      '--no-fsync',
      '--tick-ms',
      '100',
      '--super-digest',
      superDigest,
      '--max-session-timeout',
      '1000',
      '--max-client-cnxns',
      '2',
    ]);
    const opts = serverOptionsOf(o);
    expect(opts).toMatchObject({
      superDigest,
      maxSessionTimeoutMs: 1000,
      maxConnectionsPerIp: 2,
      tickMs: 100,
    });
    server = await startServer(opts);

    // the negotiated timeout is clamped to --max-session-timeout
    const a = await connect(server.connectString, { sessionTimeoutMs: 30_000 });
    expect(a.sessionTimeoutMs).toBe(1000);
    const locked = [{ perms: Perms.ALL, id: { scheme: 'digest', id: digestId('alice', 'secret') } }];
    await a.create('/locked', 'mine', { acl: locked });
    await expect(a.getData('/locked')).rejects.toMatchObject({ code: 'NOAUTH' });
    // the super user may do anything
    const su = await connect(server.connectString);
    await su.addAuth('digest', 'super:pw');
    expect(new TextDecoder().decode((await su.getData('/locked')).data)).toBe('mine');
    // a third connection from this address is refused
    await expect(
      connect(server.connectString, { retry: { retries: 0 }, signal: AbortSignal.timeout(10_000) }),
    ).rejects.toThrow(/too many connections from 127\.0\.0\.1 \(limit 2\)/);
    await Promise.all([a.close(), su.close()]);
  });

  it('--max-client-cnxns 0 means no limit; a malformed --super-digest is refused with the expected form', async () => {
    const o = await parseServerFlags(['--data-dir', '/unused', '--max-client-cnxns', '0']);
    expect(serverOptionsOf(o).maxConnectionsPerIp).toBe(0);
    // The server itself reads 0 as no limit (ZooKeeper's spelling), so the API and the flag agree.
    const dir = await mkdtemp(join(tmpdir(), 'conclave-cnxns-'));
    try {
      const unlimited = await startServer({ dataDir: dir, fsync: false, maxConnectionsPerIp: 0 });
      const clients = await Promise.all(
        Array.from({ length: 3 }, () => connect(unlimited.connectString, { sessionTimeoutMs: 4000 })),
      );
      await Promise.all(clients.map((c) => c.close()));
      await unlimited.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    const defaults = serverOptionsOf(await parseServerFlags(['--data-dir', '/unused']));
    expect(defaults.maxConnectionsPerIp).toBeUndefined();
    expect(defaults.superDigest).toBeUndefined();
    expect(defaults.maxSessionTimeoutMs).toBeUndefined();
    const bad = await parseServerFlags(['--data-dir', '/unused', '--super-digest', 'super:pw']);
    expect(() => serverOptionsOf(bad)).toThrow(/--super-digest must be 'user:<base64 sha1>'/);
  });
});
