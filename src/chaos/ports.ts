import { createServer } from 'node:net';

/**
 * Free loopback ports for the processes the chaos harness starts. The harness is production
 * code (npm run chaos), so it cannot import test/helpers/ports.ts; same idea: ask the OS for a
 * port and never hand the same one out twice in this process.
 */
const issued = new Set<number>();

function probe(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export async function freePort(): Promise<number> {
  for (;;) {
    const port = await probe();
    if (!issued.has(port)) {
      issued.add(port);
      return port;
    }
  }
}
