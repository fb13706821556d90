import { readFile } from 'node:fs/promises';
import http from 'node:http';
import { extname, join, normalize } from 'node:path';
import type { EnsembleDriver } from '../driver/ensemble-driver.js';
import type { ApiError } from '../shared/view-model.js';
import type { WorkerPool } from '../workers/worker-pool.js';
import type { Dashboard } from './dashboard.js';
import type { EventLog } from './event-log.js';
import { RequestError, znodeApi } from './znode-api.js';

export interface HttpOptions {
  host: string;
  port: number;
  /** dist/web: index.html, style.css, app.js. */
  webDir: string;
  dashboard: Dashboard;
  driver: EnsembleDriver;
  pool: WorkerPool;
  log: EventLog;
  /** PIDs of every process the demo started (for tests and the curious). */
  pids: () => { demo: number; members: number[]; workers: number[] };
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.map': 'application/json',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
};
const MAX_BODY_BYTES = 2 * 1024 * 1024;
const SNAPSHOT_EVERY_MS = 250;

/** ZooKeeper code → HTTP status, so the browser's network tab reads sensibly too. */
function statusOf(code: string): number {
  switch (code) {
    case 'NONODE':
      return 404;
    case 'NODEEXISTS':
    case 'BADVERSION':
    case 'NOTEMPTY':
    case 'NOCHILDRENFOREPHEMERALS':
      return 409;
    case 'CONNECTIONLOSS':
    case 'SESSIONEXPIRED':
    case 'OPERATIONTIMEOUT':
    case 'UNAVAILABLE':
      return 503;
    default:
      return 400;
  }
}

function errorBody(err: unknown): ApiError {
  const e = err as { code?: unknown; errno?: unknown; message?: unknown };
  return {
    error: {
      code: typeof e.code === 'string' ? e.code : 'ERROR',
      errno: typeof e.errno === 'number' ? e.errno : null,
      message: typeof e.message === 'string' ? e.message : String(err),
    },
  };
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(text);
}

async function readBody(req: http.IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new RequestError('BADARGUMENTS', 'request body over 2 MiB');
    chunks.push(chunk as Buffer);
  }
  if (size === 0) return {};
  try {
    const parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
    if (parsed === null || typeof parsed !== 'object') throw new Error('not an object');
    return parsed as Record<string, unknown>;
  } catch {
    throw new RequestError('BADARGUMENTS', 'the request body must be a JSON object');
  }
}

/**
 * The dashboard's HTTP side: static files, a Server-Sent Events stream (`/api/events`: a
 * `snapshot` every 250 ms and each `log` entry as it happens), and the buttons' POST endpoints.
 */
export function startHttp(opts: HttpOptions): Promise<http.Server> {
  const { dashboard, driver, pool, log } = opts;
  const streams = new Set<http.ServerResponse>();

  const client = () => {
    const c = dashboard.client;
    if (c === undefined)
      throw new RequestError('UNAVAILABLE', 'the dashboard has no session right now; retry in a moment');
    return c;
  };
  const memberId = (s: string | undefined) => {
    const id = Number(s);
    if (!driver.memberIds.includes(id)) throw new RequestError('BADARGUMENTS', `no member ${s}`);
    return id;
  };

  async function memberAction(id: number, action: string): Promise<unknown> {
    const label = { kill: 'killing', restart: 'restarting', isolate: 'isolating' }[action];
    if (label === undefined) throw new RequestError('BADARGUMENTS', `unknown action ${action}`);
    dashboard.members.setBusy(id, label);
    try {
      if (action === 'kill') {
        dashboard.members.leaderLostAt(id, Date.now());
        await driver.kill(id);
        log.add('member', `member ${id} killed (SIGKILL) from the dashboard`);
      } else if (action === 'restart') {
        await driver.restart(id);
        log.add('member', `member ${id} restarted on its data directory`);
      } else {
        dashboard.members.leaderLostAt(id, Date.now());
        driver.isolate(id);
        log.add('member', `member ${id} isolated: every quorum link cut (its clients can still reach it)`);
      }
      return { ok: true };
    } finally {
      dashboard.members.setBusy(id, null);
    }
  }

  async function route(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const parts = url.pathname.split('/').filter(Boolean);
    const method = req.method ?? 'GET';

    if (parts[0] !== 'api') return serveStatic(url.pathname, res);
    const [, what, id, action] = parts;

    if (what === 'events' && method === 'GET') return openStream(req, res);
    if (what === 'snapshot' && method === 'GET') return send(res, 200, dashboard.snapshot());
    if (what === 'log' && method === 'GET') return send(res, 200, log.recent());
    if (what === 'pids' && method === 'GET') return send(res, 200, opts.pids());
    if (what === 'members' && method === 'POST' && action !== undefined) {
      return send(res, 200, await memberAction(memberId(id), action));
    }
    if (what === 'heal' && method === 'POST') {
      driver.heal();
      log.add('member', 'partition healed: every quorum link restored');
      return send(res, 200, { ok: true });
    }
    if (what === 'workers' && method === 'POST' && id !== undefined) {
      if (action === 'kill') await pool.kill(id);
      else if (action === 'restart') await pool.restart(id);
      else throw new RequestError('BADARGUMENTS', `unknown action ${action}`);
      return send(res, 200, { ok: true });
    }
    if (what === 'election' && id === 'resign' && method === 'POST') {
      if (!pool.resignLeader())
        throw new RequestError('BADARGUMENTS', 'no worker leads the election right now');
      log.add('election', 'asked the election leader to resign');
      return send(res, 200, { ok: true });
    }
    if (what === 'config' && method === 'POST') {
      const body = await readBody(req);
      const text = typeof body.text === 'string' ? body.text : '';
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch (err) {
        throw new RequestError('BADJSON', `not JSON: ${(err as Error).message}`);
      }
      const config = dashboard.configValue;
      if (config === undefined)
        throw new RequestError('UNAVAILABLE', 'the dashboard has no session right now');
      const sentAtMs = Date.now();
      // update() (a CAS loop) rather than set(): it waits out a short disconnect (a failover) and
      // tries again, where set() must give up on a lost reply. Writing the same value twice is
      // harmless here. Bounded, so a dead ensemble gives the browser an answer.
      const signal = AbortSignal.timeout(15_000);
      await config.update(() => value, { signal });
      const { version } = await config.getVersioned({ signal });
      dashboard.configWritten(version, sentAtMs);
      return send(res, 200, { version });
    }
    if (what === 'znode') {
      if (method === 'GET')
        return send(res, 200, await znodeApi.read(client(), url.searchParams.get('path') ?? '/'));
      const body = await readBody(req);
      let result: unknown;
      if (method === 'POST') result = await znodeApi.create(client(), body);
      else if (method === 'PUT') result = await znodeApi.set(client(), body);
      else if (method === 'DELETE') result = await znodeApi.remove(client(), body);
      else throw new RequestError('BADARGUMENTS', `method ${method}`);
      return send(res, 200, result);
    }
    send(res, 404, errorBody(new RequestError('NOTFOUND', `no route ${method} ${url.pathname}`)));
  }

  async function serveStatic(pathname: string, res: http.ServerResponse): Promise<void> {
    const rel = pathname === '/' ? 'index.html' : normalize(pathname).replace(/^([/\\])+/, '');
    if (rel.startsWith('..')) return send(res, 404, errorBody(new RequestError('NOTFOUND', pathname)));
    try {
      const body = await readFile(join(opts.webDir, rel));
      res.writeHead(200, {
        'content-type': TYPES[extname(rel)] ?? 'application/octet-stream',
        'cache-control': 'no-cache',
      });
      res.end(body);
    } catch {
      send(res, 404, errorBody(new RequestError('NOTFOUND', `no file ${pathname}`)));
    }
  }

  function openStream(req: http.IncomingMessage, res: http.ServerResponse): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-store',
      connection: 'keep-alive',
    });
    res.write(`event: log-backlog\ndata: ${JSON.stringify(log.recent())}\n\n`);
    res.write(`event: snapshot\ndata: ${JSON.stringify(dashboard.snapshot())}\n\n`);
    const unsubscribe = log.subscribe((e) => res.write(`event: log\ndata: ${JSON.stringify(e)}\n\n`));
    streams.add(res);
    req.on('close', () => {
      unsubscribe();
      streams.delete(res);
    });
  }

  const ticker = setInterval(() => {
    if (streams.size === 0) return;
    const frame = `event: snapshot\ndata: ${JSON.stringify(dashboard.snapshot())}\n\n`;
    for (const s of streams) s.write(frame);
  }, SNAPSHOT_EVERY_MS);

  const server = http.createServer((req, res) => {
    route(req, res).catch((err) => {
      if (res.headersSent) return res.end();
      const body = errorBody(err);
      send(res, statusOf(body.error.code), body);
    });
  });
  server.on('close', () => {
    clearInterval(ticker);
    for (const s of streams) s.end();
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve(server));
  });
}
