import { CreateMode } from '@conclave/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { create, serverPerSuite, WireClient } from './wire.js';

describe('admin endpoint', () => {
  const srv = serverPerSuite({ fsync: false });
  let c: WireClient;
  const get = (cmd: string) =>
    fetch(`${srv.server.adminUrl}/${cmd}`).then(async (r) => ({ status: r.status, text: await r.text() }));

  beforeAll(async () => {
    c = await WireClient.session(srv.url);
    await c.request(create('/a', 'hello'));
    await c.request(create('/a/e', '', CreateMode.EPHEMERAL));
    await c.request({ op: 'getData', path: '/a', watch: true });
  });
  afterAll(async () => {
    await c?.closeSession();
  });

  it('ruok answers imok', async () => {
    expect(await get('ruok')).toEqual({ status: 200, text: 'imok' });
  });

  it('srvr and stat report mode, zxid, counts and latency', async () => {
    const srvr = (await get('srvr')).text;
    expect(srvr).toMatch(/Mode: standalone/);
    expect(srvr).toMatch(/Node count: 3/);
    expect(srvr).toMatch(/Zxid: 0x[0-9a-f]+/);
    expect(srvr).toMatch(/Latency min\/avg\/max: [\d.]+\/[\d.]+\/[\d.]+/);
    expect(srvr).toMatch(/Connections: 1/);
    const stat = (await get('stat')).text;
    expect(stat).toMatch(/Clients:\n \/127\.0\.0\.1:\d+\[1\]\(queued=0,recved=\d+,sent=\d+\)/);
    expect(stat).toMatch(/Mode: standalone/);
  });

  it('mntr is Prometheus text with the ZooKeeper counters', async () => {
    const r = await fetch(`${srv.server.adminUrl}/mntr`);
    expect(r.headers.get('content-type')).toMatch(/text\/plain; version=0\.0\.4/);
    const text = await r.text();
    for (const name of [
      'zk_packets_received',
      'zk_packets_sent',
      'zk_num_alive_connections',
      'zk_outstanding_requests',
      'zk_znode_count',
      'zk_watch_count',
      'zk_ephemerals_count',
      'zk_approximate_data_size',
      'zk_fsync_count',
      'zk_avg_latency',
      'zk_max_latency',
      'zk_p99_latency',
    ]) {
      expect(text).toMatch(new RegExp(`^# TYPE ${name} (gauge|counter)$`, 'm'));
      expect(text).toMatch(new RegExp(`^${name} [\\d.e+-]+$`, 'm'));
    }
    expect(text).toMatch(/^zk_znode_count 3$/m);
    expect(text).toMatch(/^zk_ephemerals_count 1$/m);
    expect(text).toMatch(/^zk_watch_count 1$/m);
    expect(text).toMatch(/^zk_server_state\{state="standalone"\} 1$/m);
  });

  it('cons, wchs and dump list connections, watches and sessions with their ephemerals', async () => {
    const sid = `0x${c.sessionId.toString(16)}`;
    expect((await get('cons')).text).toContain(`sid=${sid}`);
    expect((await get('wchs')).text).toMatch(/Total watches:1/);
    const dump = (await get('dump')).text;
    expect(dump).toContain(`${sid}:\n\t/a/e`);
  });

  it('an unknown command is a 404 that lists the commands', async () => {
    const r = await get('nope');
    expect(r.status).toBe(404);
    expect(r.text).toMatch(/ruok\|srvr\|stat\|mntr\|cons\|wchs\|dump/);
  });
});
