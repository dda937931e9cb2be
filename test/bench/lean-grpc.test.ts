import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { LeanPortalClient } from '../../src/bench/lean-grpc.js';
import { PortalClient } from '../../src/client/portal-client.js';
import { SingleBackend } from '../../src/modes/single/backend.js';
import { startPortalServer } from '../../src/portal/server.js';
import { silentLogger } from '../../src/util/log.js';
import { freePort } from '../helpers/ports.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function portal(adminToken?: string): Promise<{ lean: LeanPortalClient; grpcjs: PortalClient }> {
  const server = await startPortalServer({
    backend: new SingleBackend(),
    lang: 'en',
    log: silentLogger,
    host: '127.0.0.1',
    ports: [0],
    ...(adminToken === undefined ? {} : { security: { adminToken } }),
  });
  cleanups.push(() => server.shutdown());
  const lean = new LeanPortalClient(`127.0.0.1:${server.ports[0]!}`, 5_000);
  const grpcjs = new PortalClient({ host: '127.0.0.1', port: server.ports[0]! });
  cleanups.push(() => lean.close(), () => grpcjs.close());
  return { lean, grpcjs };
}

/** An HTTP/2 server that answers every stream with `answer`, to give the client what no portal sends. */
async function fakeServer(answer: (stream: http2.ServerHttp2Stream) => void): Promise<string> {
  const server = http2.createServer();
  const sessions: http2.ServerHttp2Session[] = [];
  server.on('session', (session) => sessions.push(session));
  server.on('stream', answer);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  // Streams left open would hold close() forever.
  cleanups.push(() => sessions.forEach((session) => session.destroy()));
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('the visibility probe\'s lean gRPC client', () => {
  it('writes and reads through a real portal, with the replies grpc-js would give', async () => {
    const { lean, grpcjs } = await portal();
    expect(await lean.createClient('7', '{"name": "Ana"}')).toEqual({ error: 0 });
    expect(await lean.retrieveClient('7')).toMatchObject({ CID: '7', data: expect.stringContaining('Ana') as unknown });
    const again = await lean.createClient('7', '{"name": "Bia"}');
    expect(again.error).toBe(400);
    expect(again).toEqual(await grpcjs.createClient('7', '{"name": "Bia"}'));
    expect(await lean.retrieveClient('8')).toEqual({ CID: '0', data: '' });
    expect(await lean.retrieveClient('8')).toEqual(await grpcjs.retrieveClient('8'));
    expect(await lean.retrieveClient('7')).toEqual(await grpcjs.retrieveClient('7'));
  });

  it('rejects a call the portal refuses with a gRPC status, saying which', async () => {
    const { lean } = await portal('the-token');
    await expect(lean.createClient('7', '{"name": "Ana"}')).rejects.toThrow(/\/AdminPortal\/CreateClient from .*: gRPC status 16/);
  });

  it('rejects a reply that is not one well-framed message, or too large, or never comes', async () => {
    const message = (bytes: Buffer) => (stream: http2.ServerHttp2Stream) => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(bytes);
    };
    const short = new LeanPortalClient(await fakeServer(message(Buffer.from([0, 0, 0]))), 5_000);
    const lying = new LeanPortalClient(await fakeServer(message(Buffer.from([0, 0, 0, 0, 9, 1]))), 5_000);
    const compressed = new LeanPortalClient(await fakeServer(message(Buffer.from([1, 0, 0, 0, 0]))), 5_000);
    const huge = new LeanPortalClient(await fakeServer(message(Buffer.alloc(2 << 20))), 5_000);
    const silent = new LeanPortalClient(await fakeServer(() => undefined), 200);
    for (const c of [short, lying, compressed, huge, silent]) cleanups.push(() => c.close());
    await expect(short.retrieveClient('1')).rejects.toThrow(/shorter than its prefix/);
    await expect(lying.retrieveClient('1')).rejects.toThrow(/announcing 9 bytes carries 1/);
    await expect(compressed.retrieveClient('1')).rejects.toThrow(/compressed/);
    await expect(huge.retrieveClient('1')).rejects.toThrow(/reply over 1048576 bytes/);
    await expect(silent.retrieveClient('1')).rejects.toThrow(/no reply within 200 ms/);
  });

  it('rejects when nothing answers at the address', async () => {
    const client = new LeanPortalClient(`127.0.0.1:${await freePort()}`, 5_000);
    cleanups.push(() => client.close());
    await expect(client.retrieveClient('1')).rejects.toThrow(/ECONNREFUSED|is gone|closed without a reply/);
  });
});
