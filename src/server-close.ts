import type { Server } from 'node:http';

/** Closes a listening HTTP server and every connection it holds, waiting at most `waitMs`. */
export async function closeServer(server: Server | undefined, waitMs: number): Promise<void> {
  if (server?.listening !== true) return;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, waitMs);
    timer.unref();
    server.close(() => {
      clearTimeout(timer);
      resolve();
    });
    server.closeAllConnections();
  });
}
