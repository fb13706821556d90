import type http from 'node:http';
import { zxidHex } from '@conclave/core';
import type { ClientConnection } from '../net/connection.js';
import type { ServerMetrics } from './metrics.js';
import type { RequestPipeline } from './pipeline.js';

/** The server's version, reported by srvr/stat/mntr. */
export const SERVER_VERSION = '0.1.0';

export const ADMIN_COMMANDS = ['ruok', 'srvr', 'stat', 'mntr', 'cons', 'wchs', 'dump'] as const;
export type AdminCommand = (typeof ADMIN_COMMANDS)[number];

/** What the admin commands read; all of it lives in the running server. */
export interface AdminView {
  readonly pipeline: RequestPipeline;
  readonly metrics: ServerMetrics;
  readonly mode: string;
  readonly dataDir: string;
  readonly startedAtMs: number;
  /** The log's counters (Storage.stats()). */
  readonly storage: {
    stats(): { fsyncs: number; appends: number; maxBatchAppends: number; bytesWritten: number };
  };
}

const fmt = (ms: number) => (Number.isFinite(ms) ? ms.toFixed(3) : '0');
const hex = (n: bigint) => `0x${BigInt.asUintN(64, n).toString(16)}`;

function header(v: AdminView): string {
  const m = v.metrics;
  const db = v.pipeline.db;
  return [
    `Conclave version: ${SERVER_VERSION}`,
    `Latency min/avg/max: ${fmt(m.latencyCount ? m.latencyMinMs : 0)}/${fmt(m.latencyAvgMs)}/${fmt(m.latencyMaxMs)}`,
    `Received: ${m.packetsReceived}`,
    `Sent: ${m.packetsSent}`,
    `Connections: ${v.pipeline.connections.size}`,
    `Outstanding: ${v.pipeline.outstanding}`,
    `Zxid: 0x${zxidHex(db.lastZxid)}`,
    `Mode: ${v.mode}`,
    `Node count: ${db.tree.nodeCount}`,
  ].join('\n');
}

function connLine(c: ClientConnection, detailed: boolean): string {
  const k = c.counters;
  const base = ` /${c.remoteAddress}:${c.remotePort}[1](queued=${c.outstanding},recved=${k.packetsReceived},sent=${k.packetsSent}`;
  if (!detailed) return `${base})`;
  return (
    `${base},sid=${hex(c.sessionId)},est=${c.establishedAtMs},lzxid=0x${zxidHex(c.lastZxid)}` +
    `,minlat=${fmt(k.answered ? k.latencyMinMs : 0)},avglat=${fmt(k.answered ? k.latencySumMs / k.answered : 0)}` +
    `,maxlat=${fmt(k.latencyMaxMs)},peakq=${k.peakOutstanding},pauses=${k.pauses}` +
    `,buffered=${c.bufferedBytes},peakbuf=${k.peakBufferedBytes},paused=${c.isPaused ? 1 : 0})`
  );
}

/** Prometheus text exposition (version 0.0.4): one gauge/counter per line, ZooKeeper's mntr names. */
function mntr(v: AdminView): string {
  const m = v.metrics;
  const p = v.pipeline;
  const db = p.db;
  const log = v.storage.stats();
  const metrics: [string, 'gauge' | 'counter', number, string][] = [
    ['zk_uptime_seconds', 'gauge', (Date.now() - v.startedAtMs) / 1000, 'Seconds since the server started'],
    ['zk_avg_latency', 'gauge', m.latencyAvgMs, 'Average request latency (ms)'],
    ['zk_max_latency', 'gauge', m.latencyMaxMs, 'Maximum request latency (ms)'],
    ['zk_min_latency', 'gauge', m.latencyCount ? m.latencyMinMs : 0, 'Minimum request latency (ms)'],
    ['zk_p99_latency', 'gauge', m.latencyPercentileMs(99), 'p99 request latency over the recent window (ms)'],
    ['zk_packets_received', 'counter', m.packetsReceived, 'Frames received'],
    ['zk_packets_sent', 'counter', m.packetsSent, 'Responses sent'],
    ['zk_num_alive_connections', 'gauge', p.connections.size, 'Open client connections'],
    ['zk_outstanding_requests', 'gauge', p.outstanding, 'Requests queued and not yet answered'],
    ['zk_pending_proposals', 'gauge', p.replicator.pending, 'Proposals not yet committed'],
    ['zk_znode_count', 'gauge', db.tree.nodeCount, 'Znodes'],
    ['zk_watch_count', 'gauge', p.watches.count(), 'Watches'],
    // Both are running counters of the DataTree: a scrape costs O(1), whatever the tree's size.
    ['zk_ephemerals_count', 'gauge', db.tree.ephemeralCount, 'Ephemeral znodes'],
    ['zk_approximate_data_size', 'gauge', db.tree.approximateDataBytes, 'Bytes of znode data and paths'],
    ['zk_global_sessions', 'gauge', db.sessions.size, 'Live sessions'],
    ['zk_fsync_count', 'counter', log.fsyncs, 'fsync/fdatasync calls made by the txn log'],
    ['zk_log_appends', 'counter', log.appends, 'Txns made durable in the log'],
    ['zk_log_bytes_written', 'counter', log.bytesWritten, 'Bytes written to the txn log'],
    ['zk_max_appends_per_fsync', 'gauge', log.maxBatchAppends, 'Most txns one fsync covered (group commit)'],
    ['zk_txns_applied', 'counter', m.txnsApplied, 'Txns applied'],
    ['zk_snapshots_taken', 'counter', m.snapshotsTaken, 'Snapshots written'],
    ['zk_malformed_frames', 'counter', m.malformedFrames, 'Connections closed for a malformed frame'],
    ['zk_sessions_expired', 'counter', m.sessionsExpired, 'Sessions expired by this leader'],
    [
      'zk_backpressure_pauses',
      'counter',
      m.backpressurePauses,
      'Times a connection stopped being read (too many outstanding requests or unsent bytes)',
    ],
    [
      'zk_slow_consumer_closes',
      'counter',
      m.slowConsumerCloses,
      'Connections closed because the client did not read its output (SLOW_CONSUMER)',
    ],
    ['zk_last_zxid', 'gauge', Number(db.lastZxid), 'Last applied zxid'],
  ];
  const lines: string[] = [];
  for (const [name, type, value, help] of metrics) {
    lines.push(
      `# HELP ${name} ${help}`,
      `# TYPE ${name} ${type}`,
      `${name} ${Number.isFinite(value) ? value : 0}`,
    );
  }
  lines.push(
    '# HELP zk_server_state Server mode',
    '# TYPE zk_server_state gauge',
    `zk_server_state{state="${v.mode}"} 1`,
    '# HELP zk_version Server version',
    '# TYPE zk_version gauge',
    `zk_version{version="${SERVER_VERSION}"} 1`,
  );
  return `${lines.join('\n')}\n`;
}

export function runAdminCommand(cmd: AdminCommand, v: AdminView): string {
  const p = v.pipeline;
  switch (cmd) {
    case 'ruok':
      return 'imok';
    case 'srvr':
      return `${header(v)}\n`;
    case 'stat': {
      const clients = [...p.connections].map((c) => connLine(c, false));
      return `${header(v).split('\n')[0]}\nClients:\n${clients.join('\n')}\n\n${header(v).split('\n').slice(1).join('\n')}\n`;
    }
    case 'mntr':
      return mntr(v);
    case 'cons':
      return `${[...p.connections].map((c) => connLine(c, true)).join('\n')}\n`;
    case 'wchs': {
      let sessions = 0;
      for (const id of p.db.sessions.keys()) if (p.watches.count(id) > 0) sessions++;
      return `${p.connections.size} connections watching, ${sessions} sessions with watches\nTotal watches:${p.watches.count()}\n`;
    }
    case 'dump': {
      const lines: string[] = [];
      lines.push(`Sessions with Ephemerals (${p.db.sessions.size}):`);
      for (const id of p.db.sessions.keys()) {
        lines.push(`${hex(id)}:`);
        for (const path of p.db.ephemeralsOf(id)) lines.push(`\t${path}`);
      }
      lines.push('Session timeouts:');
      for (const s of p.tracker.values())
        lines.push(`\t${hex(s.sessionId)}\t${s.timeoutMs}ms${s.closing ? ' (closing)' : ''}`);
      return `${lines.join('\n')}\n`;
    }
  }
}

/** The HTTP handler for GET /admin/<cmd>. */
export function adminHandler(view: () => AdminView) {
  return (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const match = /^\/admin\/([a-z]+)\/?$/.exec(url.pathname);
    const cmd = match?.[1] as AdminCommand | undefined;
    if (req.method !== 'GET' || cmd === undefined || !ADMIN_COMMANDS.includes(cmd)) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(`unknown admin command; use GET /admin/<${ADMIN_COMMANDS.join('|')}>\n`);
      return;
    }
    try {
      const body = runAdminCommand(cmd, view());
      const type = cmd === 'mntr' ? 'text/plain; version=0.0.4; charset=utf-8' : 'text/plain; charset=utf-8';
      res.writeHead(200, { 'content-type': type });
      res.end(body);
    } catch (err) {
      res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(`admin command failed: ${(err as Error).message}\n`);
    }
  };
}
