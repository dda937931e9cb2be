import { createServer } from 'node:net';

/** Ports handed out by this process: the OS may offer a just-closed port again. */
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

/** A TCP port that was free a moment ago and not handed out before, for servers started in another process. */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await probe();
    if (!issued.has(port)) {
      issued.add(port);
      return port;
    }
  }
}
