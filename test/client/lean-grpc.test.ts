import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LeanGrpcChannel, MESSAGE_MAX_BYTES } from '../../src/client/lean-grpc.js';
import { PortalCallError } from '../../src/client/portal-calls.js';
import { testSeed } from '../helpers/seed.js';

/**
 * The lean gRPC channel (src/client/lean-grpc.ts) takes replies from whatever answers at its
 * address: a portal, etcd, or something hostile. Seeded garbage as a reply (random bytes cut into
 * random chunks, random headers and trailers, resets) must end each call with its messages or a
 * PortalCallError, never anything else and never a hang, and leave the channel able to call again.
 */
interface Answer {
  readonly status: number;
  readonly contentType: string | undefined;
  readonly chunks: readonly Uint8Array[];
  readonly grpcStatus: string | undefined;
  readonly grpcMessage: string;
  readonly reset: boolean;
}

const answers = new Map<string, Answer>();
let server: http2.Http2Server;
let port: number;

beforeAll(async () => {
  server = http2.createServer();
  server.on('stream', (stream, headers) => {
    stream.on('error', () => undefined);
    const answer = answers.get(String(headers[':path']).replace('/Test/', ''));
    if (answer === undefined) {
      // The follow-up call after each case: a well-formed reply of one empty message.
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(Buffer.from([0, 0, 0, 0, 0]));
      return;
    }
    if (answer.reset) return void stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
    stream.respond({ ':status': answer.status, ...(answer.contentType === undefined ? {} : { 'content-type': answer.contentType }) }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers(answer.grpcStatus === undefined ? {} : { 'grpc-status': answer.grpcStatus, 'grpc-message': answer.grpcMessage }));
    for (const chunk of answer.chunks) stream.write(chunk);
    stream.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

/** A reply prefix announcing `length` bytes (or a random one), uncompressed unless `flag` says otherwise. */
const prefix = fc.record({ flag: fc.constantFrom(0, 0, 0, 1, 7), length: fc.oneof(fc.nat(40), fc.constant(MESSAGE_MAX_BYTES + 1), fc.nat()) }).map(({ flag, length }) => {
  const bytes = Buffer.alloc(5);
  bytes[0] = flag;
  bytes.writeUInt32BE(length >>> 0, 1);
  return new Uint8Array(bytes);
});
const answer: fc.Arbitrary<Answer> = fc.record({
  status: fc.constantFrom(200, 200, 200, 404, 503),
  contentType: fc.constantFrom('application/grpc', 'application/grpc+proto', 'text/html', undefined),
  chunks: fc.array(fc.oneof(prefix, fc.uint8Array({ maxLength: 64 })), { maxLength: 8 }),
  grpcStatus: fc.constantFrom('0', '0', '3', '14', 'x', '', undefined),
  grpcMessage: fc.constantFrom('', 'bad%20thing', '%zz', 'plain'),
  reset: fc.boolean(),
});

describe('the lean gRPC channel against a hostile server', () => {
  it('ends every call with messages or a PortalCallError, and calls again after (seeded)', async () => {
    const seed = testSeed('lean gRPC channel against a hostile server');
    const channel = new LeanGrpcChannel({ host: '127.0.0.1', port, timeout_ms: 2_000 });
    let n = 0;
    try {
      await fc.assert(
        fc.asyncProperty(answer, async (a) => {
          const name = `case-${n++}`;
          answers.set(name, a);
          const outcome = await channel.call(`/Test/${name}`, Buffer.from(name)).then(
            (messages) => ({ messages }),
            (err: unknown) => ({ err }),
          );
          answers.delete(name);
          if ('err' in outcome) {
            expect(outcome.err, String(outcome.err)).toBeInstanceOf(PortalCallError);
          } else {
            // Only a reply that says OK and frames its messages whole gets here.
            expect(a.reset).toBe(false);
            expect(a.grpcStatus).toBe('0');
            for (const m of outcome.messages) expect(m.length).toBeLessThanOrEqual(MESSAGE_MAX_BYTES);
          }
          // The channel is still usable.
          expect(await channel.call('/Test/Ok', Buffer.alloc(0))).toEqual([Buffer.alloc(0)]);
        }),
        { seed, numRuns: 150 },
      );
    } finally {
      channel.close();
    }
  }, 120_000);
});
