import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { CloseCode } from '@conclave/core';
import { type WebSocket, WebSocketServer } from 'ws';

export interface ListenerOptions {
  host: string;
  port: number;
  /** ws's own hard cap on a message; frames above it are refused by ws with close code 1009. */
  maxPayloadBytes: number;
  maxConnectionsPerIp: number;
  /** A WebSocket connection that passed the per-IP limit. */
  onConnection: (ws: WebSocket, remoteAddress: string, remotePort: number) => void;
  /** Plain HTTP requests (the admin endpoint). */
  onHttpRequest: (req: http.IncomingMessage, res: http.ServerResponse) => void;
}

/**
 * The one port a member serves on: an http.Server whose upgrades become ws connections (the
 * client protocol) and whose plain GETs go to the admin endpoint. It enforces the per-IP
 * connection limit (ZooKeeper's maxClientCnxns) and tracks every socket so close() can end them.
 */
export class Listener {
  private readonly perIp = new Map<string, number>();
  private readonly sockets = new Set<WebSocket>();

  private constructor(
    private readonly server: http.Server,
    private readonly wss: WebSocketServer,
    readonly host: string,
    readonly port: number,
  ) {}

  static async start(opts: ListenerOptions): Promise<Listener> {
    const server = http.createServer(opts.onHttpRequest);
    const wss = new WebSocketServer({
      noServer: true,
      maxPayload: opts.maxPayloadBytes,
      perMessageDeflate: false,
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port, opts.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const address = server.address() as AddressInfo;
    const listener = new Listener(server, wss, opts.host, address.port);
    server.on('upgrade', (req, socket, head) => {
      socket.on('error', () => socket.destroy());
      wss.handleUpgrade(req, socket, head, (ws) => listener.accept(ws, req, opts));
    });
    // Client errors (bad HTTP) must never take the process down.
    server.on('clientError', (_err, socket) => socket.destroy());
    return listener;
  }

  private accept(ws: WebSocket, req: http.IncomingMessage, opts: ListenerOptions): void {
    const remoteAddress = normalizeAddress(req.socket.remoteAddress ?? '');
    const remotePort = req.socket.remotePort ?? 0;
    ws.on('error', () => ws.terminate());
    const count = this.perIp.get(remoteAddress) ?? 0;
    if (count >= opts.maxConnectionsPerIp) {
      ws.close(
        CloseCode.TOO_MANY_CONNECTIONS,
        `too many connections from ${remoteAddress} (limit ${opts.maxConnectionsPerIp})`,
      );
      setTimeout(() => ws.terminate(), 2000).unref();
      return;
    }
    this.perIp.set(remoteAddress, count + 1);
    this.sockets.add(ws);
    ws.once('close', () => {
      this.sockets.delete(ws);
      const n = (this.perIp.get(remoteAddress) ?? 1) - 1;
      if (n <= 0) this.perIp.delete(remoteAddress);
      else this.perIp.set(remoteAddress, n);
    });
    opts.onConnection(ws, remoteAddress, remotePort);
  }

  get connectionCount(): number {
    return this.sockets.size;
  }

  /** Stops accepting; closes every client socket with `code`; resolves once the port is free. */
  async close(code: number, reason: string): Promise<void> {
    for (const ws of this.sockets) {
      try {
        ws.close(code, reason);
      } catch {
        ws.terminate();
      }
    }
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    // Give peers a moment to complete the close handshake, then cut what is left.
    const deadline = Date.now() + 1000;
    while (this.sockets.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    for (const ws of this.sockets) ws.terminate();
    this.wss.close();
    this.server.closeAllConnections();
    await closed;
  }
}

/** '::ffff:127.0.0.1' and '127.0.0.1' are the same client. */
function normalizeAddress(address: string): string {
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}
