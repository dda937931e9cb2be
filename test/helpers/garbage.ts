// Hostile input for a listener, shared by the tests that feed one: connections that send random
// bytes of random lengths (some of them well-formed by chance) and end, drawn from a seed.
import { connect, type Socket } from 'node:net';
import fc from 'fast-check';

/** A connection to 127.0.0.1:port, once it is open. */
export function openLoopback(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('error', reject);
    socket.once('connect', () => resolve(socket));
  });
}

/**
 * `connections` connections, each to one of `ports` at random, each sending 1 to `maxBytes`
 * random bytes and ending; settles once the far side has closed every one of them.
 */
export async function sendGarbage(ports: readonly number[], seed: number, maxBytes: number, connections = 60): Promise<void> {
  const cases = fc.sample(fc.tuple(fc.nat({ max: ports.length - 1 }), fc.uint8Array({ minLength: 1, maxLength: maxBytes })), { seed, numRuns: connections });
  for (const [which, bytes] of cases) {
    const socket = await openLoopback(ports[which]!);
    socket.on('error', () => undefined);
    // Answers are read and dropped: an unread answer would hold the socket's end back for ever.
    socket.resume();
    socket.end(Buffer.from(bytes));
    await new Promise((resolve) => socket.once('close', resolve));
  }
}
