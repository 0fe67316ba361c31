/**
 * A TCP relay on loopback that holds every chunk half a round trip in each direction, for
 * `npm run bench -- --provider-rtt MS`: the provider as over a WAN, where its TLS handshake, not only
 * its answers, costs round trips (`--provider-delay` waits before each answer alone). The relay's own
 * TCP handshake is the kernel's, so connecting costs no round trip here; everything after it does.
 */
import { connect, createServer } from 'node:net';
import type { Socket } from 'node:net';

export interface RoundTripProxy {
  readonly port: number;
  close(): Promise<void>;
}

export async function startRoundTripProxy(target: { host: string; port: number }, rttMs: number): Promise<RoundTripProxy> {
  const half = rttMs / 2;
  const open = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(target.port, target.host);
    for (const s of [client, upstream]) {
      open.add(s);
      s.setNoDelay(true);
      s.on('close', () => open.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    // Timers of equal delay fire in the order they were set: chunks keep their order.
    const relay = (from: Socket, to: Socket): void => {
      from.on('data', (chunk: Buffer) => setTimeout(() => to.write(chunk), half));
      from.on('end', () => setTimeout(() => to.end(), half));
    };
    relay(client, upstream);
    relay(upstream, client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    close: () =>
      new Promise((resolve) => {
        for (const s of open) s.destroy();
        server.close(() => resolve());
      }),
  };
}
