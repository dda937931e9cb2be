import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../../src/util/ports.js';
import { FeedProxy } from '../../src/chaos/feed-proxy.js';

/** The proxy between a portal and the broker: a stall holds what the SERVER sends, too. */
let proxy: FeedProxy | undefined;
let server: Server | undefined;
const sockets: Socket[] = [];
afterEach(async () => {
  sockets.splice(0).forEach((s) => s.destroy());
  await proxy?.close();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  proxy = undefined;
  server = undefined;
});

/** A server that sends `hello` to whoever connects, then whatever the test asks; a client through the proxy. */
async function setup(): Promise<{ serverSide: Promise<Socket>; client: Socket; received: () => string }> {
  const targetPort = await freePort();
  let accepted: (s: Socket) => void = () => undefined;
  const serverSide = new Promise<Socket>((r) => (accepted = r));
  server = createServer((s) => {
    sockets.push(s);
    accepted(s);
  });
  await new Promise<void>((r) => server!.listen(targetPort, '127.0.0.1', () => r()));
  proxy = new FeedProxy('portal-0->broker', await freePort(), targetPort);
  await proxy.listen();
  let data = '';
  const client = await new Promise<Socket>((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port: proxy!.listenPort }, () => resolve(s));
    s.on('error', reject);
  });
  sockets.push(client);
  client.on('data', (chunk) => (data += chunk.toString()));
  return { serverSide, client, received: () => data };
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    // Socket data has no single event to await across both ends: poll briefly.
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('FeedProxy', () => {
  it('a stall holds the server-to-client bytes and delivers them once, late, on heal', async () => {
    const { serverSide, received } = await setup();
    const s = await serverSide;
    s.write('a');
    await until(() => received() === 'a', 'a');
    proxy!.set('stall');
    s.write('b');
    await new Promise((r) => setTimeout(r, 200));
    expect(received()).toBe('a');
    proxy!.set('pass');
    await until(() => received() === 'ab', 'ab');
    s.write('c');
    await until(() => received() === 'abc', 'abc');
  });

  it('drop closes the connection and refuses new ones until healed', async () => {
    const { client } = await setup();
    const closed = new Promise<void>((r) => client.on('close', () => r()));
    proxy!.set('drop');
    await closed;
    const refused = connect({ host: '127.0.0.1', port: proxy!.listenPort });
    sockets.push(refused);
    await new Promise<void>((r) => refused.on('close', () => r()));
    expect(proxy!.connections).toBe(0);
  });
});
