import http2 from 'node:http2';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LeanPortalClient } from '../../src/client/lean-portal-client.js';
import { MESSAGE_MAX_BYTES } from '../../src/client/lean-grpc.js';
import type { PortalClientOptions } from '../../src/client/portal-calls.js';
import { PortalClient } from '../../src/client/portal-client.js';
import { SingleBackend } from '../../src/modes/single/backend.js';
import type { PortalSecurity } from '../../src/portal/security.js';
import { startPortalServer } from '../../src/portal/server.js';
import { silentLogger } from '../../src/util/log.js';
import { makeCertificates, type TestCertificates } from '../helpers/certs.js';
import { freePort } from '../helpers/ports.js';

/**
 * The lean gRPC client of the one-shot commands and the visibility probe, against a real
 * portal server (grpc-js, plain and TLS) for what a portal sends, and against a bare HTTP/2
 * server for what no portal sends.
 */
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const dir = mkdtempSync(join(tmpdir(), 'ecom-lean-'));
let certs: TestCertificates;
let otherCa: Buffer;
beforeAll(() => {
  certs = makeCertificates(dir, 'good');
  otherCa = readFileSync(makeCertificates(dir, 'other').caFile);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function portal(security: PortalSecurity = {}): Promise<number> {
  const server = await startPortalServer({ backend: new SingleBackend(), lang: 'en', log: silentLogger, host: '127.0.0.1', ports: [0], security });
  cleanups.push(() => server.shutdown());
  return server.ports[0]!;
}

function lean(options: PortalClientOptions): LeanPortalClient {
  const client = new LeanPortalClient(options);
  cleanups.push(() => client.close());
  return client;
}

function grpcjs(options: PortalClientOptions): PortalClient {
  const client = new PortalClient(options);
  cleanups.push(() => client.close());
  return client;
}

/** An HTTP/2 server that answers every stream with `answer`, to give the client what no portal sends. */
async function fakeServer(answer: (stream: http2.ServerHttp2Stream) => void): Promise<{ host: string; port: number; dropConnections(): void }> {
  const server = http2.createServer();
  const sessions: http2.ServerHttp2Session[] = [];
  server.on('session', (session) => sessions.push(session));
  server.on('stream', answer);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const dropConnections = () => sessions.forEach((session) => session.destroy());
  // Streams left open would hold close() forever.
  cleanups.push(dropConnections);
  return { host: '127.0.0.1', port: (server.address() as AddressInfo).port, dropConnections };
}

/** Answers a call with these bytes as its data, and status OK. */
const replying = (bytes: Buffer) => (stream: http2.ServerHttp2Stream) => {
  stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
  stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
  stream.end(bytes);
};

describe('the lean gRPC client', () => {
  it('makes every portal call with the replies grpc-js gives', async () => {
    const port = await portal();
    const [a, b] = [lean({ host: '127.0.0.1', port }), grpcjs({ host: '127.0.0.1', port })];
    expect(await a.createClient('7', '{"name": "Ana"}')).toEqual({ error: 0 });
    expect(await a.createClient('7', '{"name": "Bia"}')).toEqual(await b.createClient('7', '{"name": "Bia"}'));
    expect(await a.retrieveClient('7')).toEqual({ CID: '7', data: '{"nome": "Ana"}' });
    expect(await a.retrieveClient('8')).toEqual(await b.retrieveClient('8'));
    expect(await a.updateClient('7', '{"name": "Eva"}')).toEqual({ error: 0 });
    expect(await a.createProduct('1', '{"name": "Caneta", "price": "2.5", "quantity": 8}')).toEqual({ error: 0 });
    expect(await a.retrieveProduct('1')).toEqual(await b.retrieveProduct('1'));
    expect(await a.updateProduct('1', '{"name": "Caneta", "price": "3", "quantity": 9}')).toEqual({ error: 0 });
    expect(await a.createOrder('10', '7', '[{"id": "1", "quantity": "2"}]')).toEqual({ error: 0 });
    expect(await a.createOrder('11', '7', '[]')).toEqual({ error: 0 });
    expect(await a.retrieveOrder('10')).toEqual(await b.retrieveOrder('10'));
    expect(await a.updateOrder('10', '7', '[{"id": "1", "quantity": "1"}]')).toEqual({ error: 0 });
    expect(await a.retrieveClientOrders('7')).toEqual(await b.retrieveClientOrders('7'));
    expect((await a.retrieveClientOrders('7')).map((o) => o.OID)).toEqual(['10', '11']);
    expect(await a.retrieveClientOrders('999')).toEqual([]);
    expect(await a.deleteProduct('1')).toEqual(await b.deleteProduct('1'));
    for (const oid of ['10', '11']) expect(await a.deleteOrder(oid)).toEqual({ error: 0 });
    expect(await a.deleteClient('7')).toEqual({ error: 0 });
    expect(await a.deleteClient('7')).toEqual(await b.deleteClient('7'));
  });

  it('talks TLS to a server whose CA it trusts, and sends the token', async () => {
    const port = await portal({ tls: { cert: readFileSync(certs.certFile), key: readFileSync(certs.keyFile) }, adminToken: 'the-token' });
    const client = lean({ host: '127.0.0.1', port, tlsCa: readFileSync(certs.caFile), token: 'the-token' });
    expect(await client.createClient('2', '{"name": "Maria"}')).toEqual({ error: 0 });
    expect(await client.retrieveClient('2')).toEqual({ CID: '2', data: '{"nome": "Maria"}' });
    // The same name the certificate carries, by DNS rather than by IP address.
    expect(await lean({ host: 'localhost', port, tlsCa: readFileSync(certs.caFile), token: 'the-token' }).retrieveClient('2')).toMatchObject({ CID: '2' });
  });

  it('fails as grpc-js does: UNAUTHENTICATED without the token, UNAVAILABLE with the wrong CA or no TLS', async () => {
    const port = await portal({ tls: { cert: readFileSync(certs.certFile), key: readFileSync(certs.keyFile) }, adminToken: 'the-token' });
    const noToken = await lean({ host: '127.0.0.1', port, tlsCa: readFileSync(certs.caFile) })
      .createClient('4', '{"name": "Eve"}')
      .catch((err: unknown) => err);
    expect(noToken).toMatchObject({ code: 16, details: expect.stringContaining('ecom admin --token FILE') as unknown });
    const wrongCa = await lean({ host: '127.0.0.1', port, tlsCa: otherCa, token: 'the-token' })
      .retrieveClient('2')
      .catch((err: unknown) => err);
    expect(wrongCa).toMatchObject({ code: 14, details: expect.stringMatching(/certificate/) as unknown });
    await expect(lean({ host: '127.0.0.1', port, token: 'the-token' }).retrieveClient('2')).rejects.toMatchObject({ code: 14 });
    // A TLS client at a plain server.
    const plain = await portal();
    await expect(lean({ host: '127.0.0.1', port: plain, tlsCa: readFileSync(certs.caFile) }).retrieveClient('2')).rejects.toMatchObject({ code: 14 });
  });

  it('is UNAVAILABLE when nothing answers at the address, saying why', async () => {
    const client = lean({ host: '127.0.0.1', port: await freePort() });
    await expect(client.retrieveClient('1')).rejects.toMatchObject({ code: 14, details: expect.stringContaining('ECONNREFUSED') as unknown });
  });

  it('is UNAVAILABLE once its connection has gone', async () => {
    // An empty Client message: the record was not found.
    const server = await fakeServer(replying(Buffer.alloc(5)));
    const client = lean({ host: server.host, port: server.port, timeout_ms: 5_000 });
    expect(await client.retrieveClient('1')).toEqual({ CID: '', data: '' });
    server.dropConnections();
    await expect(client.retrieveClient('1')).rejects.toMatchObject({ code: 14 });
  });

  it('rejects a reply that is not well-framed messages, or too large, or never comes', async () => {
    const tooLarge = Buffer.alloc(5);
    tooLarge.writeUInt32BE(MESSAGE_MAX_BYTES + 1, 1);
    const cases: Array<[Buffer, RegExp]> = [
      [Buffer.from([0, 0, 0]), /shorter than its prefix/],
      [Buffer.from([0, 0, 0, 0, 9, 1]), /announcing 9 bytes carries 1/],
      [Buffer.from([1, 0, 0, 0, 0]), /compressed/],
      [tooLarge, new RegExp(`over ${MESSAGE_MAX_BYTES}`)],
      [Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), /2 messages in a unary reply/],
      [Buffer.alloc(0), /0 messages in a unary reply/],
    ];
    for (const [bytes, error] of cases) await expect(lean({ ...(await fakeServer(replying(bytes))), timeout_ms: 5_000 }).retrieveClient('1')).rejects.toThrow(error);
    const silent = lean({ ...(await fakeServer(() => undefined)), timeout_ms: 200 });
    await expect(silent.retrieveClient('1')).rejects.toMatchObject({ code: 4, details: expect.stringContaining('no reply within 200 ms') as unknown });
  });

  it('reads the status of a reply that fails at once, and of one that carries none', async () => {
    const trailersOnly = await fakeServer((stream) => stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '8', 'grpc-message': 'busy%20now' }, { endStream: true }));
    await expect(lean({ ...trailersOnly, timeout_ms: 5_000 }).createClient('1', '{}')).rejects.toMatchObject({ code: 8, details: 'busy now' });
    const proxyError = await fakeServer((stream) => stream.respond({ ':status': 503, 'content-type': 'text/html' }, { endStream: true }));
    await expect(lean({ ...proxyError, timeout_ms: 5_000 }).createClient('1', '{}')).rejects.toMatchObject({ code: 14 });
    const reset = await fakeServer((stream) => {
      stream.on('error', () => undefined);
      stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
    });
    await expect(lean({ ...reset, timeout_ms: 5_000 }).createClient('1', '{}')).rejects.toMatchObject({ code: 14 });
  });
});
