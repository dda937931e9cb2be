import http2 from 'node:http2';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { H2Connection, type HeaderRecord, type StreamEvents } from '../../src/client/h2-connection.js';
import { encodeHeaderBlock } from '../../src/net/h2/hpack.js';
import { frame } from '../helpers/h2-frames.js';
import { testSeed } from '../helpers/seed.js';

/**
 * The hand-written HTTP/2 client (src/client/h2-connection.ts) against node:http2's server, which
 * exercises what a portal or etcd may do (flow control, stream limits, padding, CONTINUATION,
 * PING, GOAWAY), and against a raw socket sending seeded garbage, which must end every call and
 * never throw.
 */
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Outcome {
  readonly headers: HeaderRecord[];
  readonly data: Buffer;
  readonly end: 'stream' | 'reset' | 'gone';
  readonly detail: string;
}

/** One request; settles with everything that came back, however it ended. */
function exchange(connection: H2Connection, path: string, body: Buffer, extra: Array<[string, string]> = []): Promise<Outcome> {
  return new Promise((resolve) => {
    const headers: HeaderRecord[] = [];
    const data: Buffer[] = [];
    const done = (end: Outcome['end'], detail = '') => resolve({ headers, data: Buffer.concat(data), end, detail });
    const events: StreamEvents = {
      onHeaders: (h, endStream) => {
        headers.push(h);
        if (endStream) done('stream');
      },
      onData: (chunk, endStream) => {
        data.push(Buffer.from(chunk));
        if (endStream) done('stream');
      },
      onClose: (why) => ('reset' in why ? done('reset', String(why.reset)) : done('gone', why.gone.message)),
    };
    connection.request(encodeHeaderBlock([[':method', 'POST'], [':scheme', 'http'], [':authority', 'test'], [':path', path], ...extra]), body, events);
  });
}

async function h2Server(options: http2.ServerOptions, onStream: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void): Promise<{ port: number; server: http2.Http2Server; sessions: http2.ServerHttp2Session[] }> {
  const server = http2.createServer(options);
  const sessions: http2.ServerHttp2Session[] = [];
  server.on('session', (s) => sessions.push(s));
  server.on('stream', (stream, headers) => {
    stream.on('error', () => undefined);
    onStream(stream, headers);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  cleanups.push(() => sessions.forEach((s) => s.destroy()));
  return { port: (server.address() as AddressInfo).port, server, sessions };
}

function connect(port: number): H2Connection {
  const connection = new H2Connection({ host: '127.0.0.1', port });
  cleanups.push(() => connection.close());
  return connection;
}

/** Echoes the request body back, after reading all of it, with the request's headers as trailers. */
const echo = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => {
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  stream.on('end', () => {
    stream.respond({ ':status': 200, 'x-path': String(headers[':path']) }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'x-bytes': String(Buffer.concat(chunks).length) }));
    stream.end(Buffer.concat(chunks));
  });
};

describe('the hand-written HTTP/2 client against node:http2', () => {
  it('sends and receives bodies larger than every window, padded, many at once', async () => {
    // The server pads every frame as much as it may: the client must strip it.
    const { port } = await h2Server({ paddingStrategy: http2.constants.PADDING_STRATEGY_MAX }, echo);
    const connection = connect(port);
    const bodies = [0, 1, 5, 16_384, 16_385, 70_000, 300_000, 1_000_000].map((n, i) => Buffer.alloc(n, i + 1));
    const outcomes = await Promise.all(bodies.map((body, i) => exchange(connection, `/echo/${i}`, body)));
    outcomes.forEach((o, i) => {
      expect(o.end).toBe('stream');
      expect(o.headers[0]).toMatchObject({ ':status': '200', 'x-path': `/echo/${i}` });
      expect(o.headers[1]).toMatchObject({ 'x-bytes': String(bodies[i]!.length) });
      expect(o.data.equals(bodies[i]!)).toBe(true);
    });
  });

  it('waits for the streams the server allows, and reads header blocks split into CONTINUATION frames', async () => {
    let open = 0;
    let most = 0;
    const { port } = await h2Server({ settings: { maxConcurrentStreams: 2 }, maxHeaderListPairs: 2000 }, (stream) => {
      most = Math.max(most, ++open);
      setTimeout(() => {
        open--;
        // ~40 KB of headers: more than one frame, so HEADERS then CONTINUATION.
        const big: Record<string, string> = {};
        for (let i = 0; i < 40; i++) big[`x-big-${i}`] = 'v'.repeat(1000);
        stream.respond({ ':status': 200, ...big }, { endStream: true });
      }, 5);
    });
    const connection = connect(port);
    const outcomes = await Promise.all(Array.from({ length: 12 }, (_, i) => exchange(connection, `/slow/${i}`, Buffer.from('x'))));
    for (const o of outcomes) {
      expect(o.end).toBe('stream');
      expect(o.headers[0]!['x-big-39']).toBe('v'.repeat(1000));
    }
    expect(most).toBeLessThanOrEqual(2);
  });

  it('never sends a call given up on while it waited for a stream', async () => {
    const paths: string[] = [];
    let held: http2.ServerHttp2Stream | undefined;
    const { port } = await h2Server({ settings: { maxConcurrentStreams: 1 } }, (stream, headers) => {
      paths.push(String(headers[':path']));
      if (held === undefined) held = stream;
      else stream.respond({ ':status': 200 }, { endStream: true });
    });
    const connection = connect(port);
    const first = exchange(connection, '/first', Buffer.from('a'));
    await expect.poll(() => held).toBeDefined();
    const events: StreamEvents = { onHeaders: () => undefined, onData: () => undefined, onClose: () => undefined };
    const givenUp = connection.request(encodeHeaderBlock([[':method', 'POST'], [':scheme', 'http'], [':authority', 'test'], [':path', '/given-up']]), Buffer.from('b'), events);
    givenUp.cancel();
    const third = exchange(connection, '/third', Buffer.from('c'));
    held!.respond({ ':status': 200 }, { endStream: true });
    expect((await first).end).toBe('stream');
    expect((await third).end).toBe('stream');
    expect(paths).toEqual(['/first', '/third']);
  });

  it('answers PING, and on GOAWAY ends the calls the server did not take while the others finish', async () => {
    let held: http2.ServerHttp2Stream | undefined;
    const { port, sessions } = await h2Server({}, (stream) => {
      held = stream;
    });
    const connection = connect(port);
    const first = exchange(connection, '/held', Buffer.from('a'));
    await expect.poll(() => held).toBeDefined();
    const rtt = await new Promise<number>((resolve, reject) => sessions[0]!.ping((err, ms) => (err ? reject(err) : resolve(ms))));
    expect(rtt).toBeGreaterThanOrEqual(0);
    // The server says it takes nothing past the held stream; a call made after that is refused.
    sessions[0]!.goaway(http2.constants.NGHTTP2_NO_ERROR, 1);
    await expect.poll(async () => (await exchange(connection, '/late', Buffer.from('b'))).end).toBe('gone');
    held!.respond({ ':status': 200 }, { endStream: true });
    expect((await first).end).toBe('stream');
  });

  it('ends every call when the connection goes, with the reason', async () => {
    const refused = connect(await closedPort());
    const outcome = await exchange(refused, '/x', Buffer.alloc(0));
    expect(outcome).toMatchObject({ end: 'gone', detail: expect.stringContaining('ECONNREFUSED') as unknown });
    const { port, sessions } = await h2Server({}, () => undefined);
    const connection = connect(port);
    const pending = exchange(connection, '/never', Buffer.alloc(0));
    await expect.poll(() => sessions.length).toBe(1);
    sessions[0]!.destroy();
    expect((await pending).end).toBe('gone');
    expect((await exchange(connection, '/after', Buffer.alloc(0))).end).toBe('gone');
  });

  it('reports a stream the server resets, with its code, and keeps the connection', async () => {
    const { port } = await h2Server({}, (stream, headers) => {
      if (headers[':path'] === '/reset') stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
      else stream.respond({ ':status': 200 }, { endStream: true });
    });
    const connection = connect(port);
    expect(await exchange(connection, '/reset', Buffer.from('x'))).toMatchObject({ end: 'reset', detail: String(http2.constants.NGHTTP2_REFUSED_STREAM) });
    expect((await exchange(connection, '/ok', Buffer.from('x'))).end).toBe('stream');
  });
});

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const SETTINGS = frame(4, 0, 0, new Uint8Array(0));
const okHeaders = encodeHeaderBlock([[':status', '200'], ['content-type', 'application/grpc']]);

/** What a hostile server sends after its SETTINGS: frames of every type, right or wrong, and raw bytes. */
const hostileFrame = fc.oneof(
  fc.record({ type: fc.nat(12), flags: fc.nat(255), stream: fc.constantFrom(0, 1, 2, 3, 5, 99, 2 ** 31 - 1), payload: fc.uint8Array({ maxLength: 40 }) }).map((f) => frame(f.type, f.flags, f.stream, f.payload)),
  fc.record({ stream: fc.constantFrom(1, 3), flags: fc.constantFrom(4, 5, 0, 0x0c, 0x24) }).map((f) => frame(1, f.flags, f.stream, okHeaders)),
  fc.record({ stream: fc.constantFrom(1, 3), flags: fc.constantFrom(0, 1, 8, 9), payload: fc.uint8Array({ maxLength: 30 }) }).map((f) => frame(0, f.flags, f.stream, f.payload)),
  fc.uint8Array({ minLength: 1, maxLength: 30 }).map((b) => Buffer.from(b)),
  fc.constant(frame(8, 0, 0, Buffer.from([0x7f, 0xff, 0xff, 0xff]))),
  fc.constant(frame(7, 0, 0, Buffer.from([0, 0, 0, 1, 0, 0, 0, 2]))),
  fc.constant(frame(4, 0, 0, Buffer.from([0, 3, 0, 0, 0, 0]))),
);

describe('the hand-written HTTP/2 client against a hostile server', () => {
  it('ends every call, whatever comes, and never throws (seeded)', async () => {
    const seed = testSeed('HTTP/2 client against a hostile server');
    let script: Buffer[] = [];
    const sockets = new Set<Socket>();
    const server: Server = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => sockets.delete(socket));
      // Whatever the client sends, the script answers: SETTINGS first (or not), then the frames.
      socket.once('data', () => {
        for (const bytes of script) socket.write(bytes);
        socket.end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      await fc.assert(
        fc.asyncProperty(fc.boolean(), fc.array(hostileFrame, { maxLength: 12 }), async (settingsFirst, frames) => {
          script = settingsFirst ? [SETTINGS, ...frames] : frames;
          const connection = new H2Connection({ host: '127.0.0.1', port });
          try {
            // A call that never ends fails the case (and fast-check shrinks it), instead of the whole test timing out.
            let timer: NodeJS.Timeout | undefined;
            const hung = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('a call never ended')), 5_000)));
            const outcomes = await Promise.race([Promise.all([exchange(connection, '/a', Buffer.from('one')), exchange(connection, '/b', Buffer.alloc(0))]), hung]).finally(() => clearTimeout(timer));
            for (const o of outcomes) expect(['stream', 'reset', 'gone']).toContain(o.end);
          } finally {
            connection.close();
          }
        }),
        { seed, numRuns: 300 },
      );
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }, 120_000);
});
