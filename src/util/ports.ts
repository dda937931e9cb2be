import { createServer } from 'node:net';

/**
 * Free ports for processes started elsewhere (chaos runs, benchmarks, local etcd clusters,
 * tests): ask the OS for one, and never hand the same one out twice in this process, since
 * the OS may offer a just-closed port again.
 */
const issued = new Set<number>();

function probe(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('the OS gave no free port'))));
    });
  });
}

export async function freePort(host = '127.0.0.1'): Promise<number> {
  for (;;) {
    const port = await probe(host);
    if (!issued.has(port)) {
      issued.add(port);
      return port;
    }
  }
}
