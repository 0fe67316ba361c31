import type { Server } from 'node:http';
import type { Socket } from 'node:net';

/**
 * Node's timeouts for a kiosk page on loopback: a browser sends its request at once, so a connection
 * that has not within these is a stuck or hostile client. Node checks them every
 * `connectionsCheckingInterval` (30 s by default, which lets half-open requests pile up).
 */
export const PAGE_TIMEOUTS = Object.freeze({
  headersTimeout: 3_000,
  requestTimeout: 5_000,
  keepAliveTimeout: 5_000,
  connectionsCheckingInterval: 1_000,
});

/**
 * Caps the server's open sockets at `max`, so a flood of connections can never take the process's file
 * descriptors (a Pi's limit is 1,024). When a connection beyond the cap arrives, the oldest one that is
 * not serving anything is closed to make room: one that has not sent a whole request yet (half-open,
 * the flood) or sits idle between keep-alive requests. Connections in the middle of a response, the
 * page's event stream among them, are never closed for it; when all are busy, the newcomer is.
 */
export function limitConnections(server: Server, max: number): void {
  /** Open sockets not serving a response, oldest first (a Set iterates in insertion order). */
  const idle = new Set<Socket>();
  let open = 0;
  server.on('connection', (socket: Socket) => {
    open += 1;
    idle.add(socket);
    socket.once('close', () => {
      open -= 1;
      idle.delete(socket);
    });
    if (open <= max) return;
    const victim = idle.values().next().value ?? socket;
    idle.delete(victim);
    victim.destroy();
  });
  server.on('request', (req, res) => {
    const socket = req.socket;
    idle.delete(socket);
    res.once('finish', () => {
      if (!socket.destroyed) idle.add(socket);
    });
  });
}
