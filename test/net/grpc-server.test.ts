import { once } from 'node:events';
import { connect as netConnect, createServer as createNetServer, Socket, type AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { StreamCall, UnaryCall, UnaryCallback } from '../../src/net/grpc/calls.js';
import { GrpcServer, parseTimeout, type GrpcMethod } from '../../src/net/grpc/server.js';
import { MESSAGE_MAX_BYTES, STATUS } from '../../src/net/grpc/status.js';
import { encodeHeaderBlock, HpackDecoder, type HeaderField } from '../../src/net/h2/hpack.js';
import { MAX_HELD_REQUEST_BYTES } from '../../src/net/h2/server-connection.js';
import { silentLogger } from '../../src/util/log.js';
import { FLAG_ACK, FLAG_END_HEADERS, FLAG_END_STREAM, frame, frameReader, FRAME_HEADERS, FRAME_RST_STREAM, FRAME_SETTINGS, headerBlocks, PREFACE, type Frame } from '../helpers/h2-frames.js';
import { testSeed } from '../helpers/seed.js';

/**
 * The portals' hand-written gRPC server (src/net/grpc/server.ts over src/net/h2/server-connection.ts)
 * against grpc-js as a client, which proves it speaks gRPC as the rest of the world does, and
 * against raw sockets, which can send what no well-behaved client would: refused requests, more
 * streams than the server allows, resets in bulk, and seeded garbage, none of which may make the
 * server throw.
 */

// --- HTTP/2 and gRPC on the wire (RFC 9113, PROTOCOL-HTTP2.md) ------------------------------

const FRAME_DATA = 0x0;
const FRAME_PING = 0x6;
const FRAME_GOAWAY = 0x7;
const FRAME_WINDOW_UPDATE = 0x8;
const SETTINGS_INITIAL_WINDOW_SIZE = 0x4;
/** A window before any SETTINGS or WINDOW_UPDATE changes it (RFC 9113 §6.9.2). */
const DEFAULT_WINDOW = 65_535;
const PROTOCOL_ERROR = 0x1;
const STREAM_CLOSED = 0x5;
const REFUSED_STREAM = 0x7;
const CANCEL = 0x8;
/** The server's limit on streams counted at once (MAX_STREAMS_PER_CONNECTION), restated: the test holds it to its word. */
const STREAM_LIMIT = 2_048;
const MAX_FRAME = 16_384;

function u32(value: number): Buffer {
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32BE(value, 0);
  return bytes;
}

/** A gRPC length-prefixed message. */
function grpcMessage(body: Buffer, compressed = false): Buffer {
  return Buffer.concat([Buffer.from([compressed ? 1 : 0]), u32(body.length), body]);
}

interface RequestShape {
  readonly method?: string;
  readonly contentType?: string;
  readonly extra?: ReadonlyArray<readonly [string, string]>;
}

function requestFields(path: string, { method = 'POST', contentType = 'application/grpc', extra = [] }: RequestShape = {}): Array<readonly [string, string]> {
  return [[':method', method], [':scheme', 'http'], [':path', path], [':authority', 'test'], ['content-type', contentType], ['te', 'trailers'], ...extra];
}

function headersFrame(streamId: number, path: string, shape: RequestShape = {}, endStream = false): Buffer {
  return frame(FRAME_HEADERS, FLAG_END_HEADERS | (endStream ? FLAG_END_STREAM : 0), streamId, encodeHeaderBlock(requestFields(path, shape)));
}

function dataFrame(streamId: number, payload: Buffer, endStream = true): Buffer {
  return frame(FRAME_DATA, endStream ? FLAG_END_STREAM : 0, streamId, payload);
}

/** A whole unary request: its headers and its one message, ended. */
function unaryRequest(streamId: number, path: string, body: Buffer, shape: RequestShape = {}): Buffer {
  return Buffer.concat([headersFrame(streamId, path, shape), dataFrame(streamId, grpcMessage(body))]);
}

function rstFrame(streamId: number, code: number): Buffer {
  return frame(FRAME_RST_STREAM, 0, streamId, u32(code));
}

/**
 * Zero bytes that complete the frame `bytes` leave unfinished, so that whatever is sent after
 * them is read as a frame of its own. For a frame over the size limit only the rest of its header:
 * the server refuses it as soon as it has that.
 */
function completion(bytes: Buffer): Buffer {
  for (let at = 0; ; ) {
    const left = bytes.length - at;
    if (left === 0) return Buffer.alloc(0);
    const header = left >= 9 ? bytes.subarray(at, at + 9) : Buffer.concat([bytes.subarray(at), Buffer.alloc(9 - left)]);
    const length = header.readUIntBE(0, 3);
    const headerFill = Math.max(0, 9 - left);
    if (length > MAX_FRAME) return Buffer.alloc(headerFill);
    if (left < 9 + length) return Buffer.alloc(9 + length - left);
    at += 9 + length;
  }
}

// --- Waiting on events, and what must never happen ------------------------------------------

/** Errors that left the server's code (a throw in a socket handler, a rejected promise nobody awaited). */
const escaped: unknown[] = [];

/** Wakes every `until` whenever something a test waits on may have changed. */
const waiters = new Set<() => void>();
function changed(): void {
  for (const check of [...waiters]) check();
}

/** Resolves once `condition` holds; rejects if something escaped, or `giveUp` says it never will. */
function until(condition: () => boolean, what: string, giveUp: () => boolean = () => false): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (condition()) {
        waiters.delete(check);
        resolve();
      } else if (escaped.length > 0 || giveUp()) {
        waiters.delete(check);
        reject(new Error(`gave up waiting for ${what}${escaped.length > 0 ? `: the server threw ${String(escaped[0])}` : ''}`));
      }
    };
    waiters.add(check);
    check();
  });
}

const onEscaped = (err: unknown) => {
  escaped.push(err);
  changed();
};

// --- The test service ------------------------------------------------------------------------

const identity = (bytes: Buffer): Buffer => bytes;

function method(name: string, requestStream: boolean, responseStream: boolean): GrpcMethod {
  return { path: `/test.Svc/${name}`, requestStream, responseStream, requestDeserialize: identity, responseSerialize: identity };
}

const SERVICE = {
  Echo: method('Echo', false, false),
  Held: method('Held', false, false),
  Count: method('Count', false, true),
  Chat: method('Chat', true, true),
};
const PATH = { echo: SERVICE.Echo.path, held: SERVICE.Held.path, count: SERVICE.Count.path, chat: SERVICE.Chat.path };

/** Holds the Held method's handlers until the test lets them answer. */
class Gate {
  entered = 0;
  answered = 0;
  private opened = false;
  private readonly held: Array<() => void> = [];

  wait(): Promise<void> {
    this.entered++;
    changed();
    return this.opened ? Promise.resolve() : new Promise((resolve) => this.held.push(resolve));
  }

  release(): void {
    this.opened = true;
    for (const resolve of this.held.splice(0)) resolve();
  }

  answer(): void {
    this.answered++;
    changed();
  }
}

/** What one Count handler did. */
interface CountRun {
  written: number;
  /** write() said to wait for 'drain'. */
  waiting: boolean;
  ended: boolean;
  sawCancel: boolean;
  readonly cancelled: Promise<unknown>;
}

/** What one Chat handler saw. */
interface ChatRun {
  sawEnd: boolean;
  sawCancel: boolean;
}

let gate = new Gate();
/** Echo handlers run, ever (not reset between tests). */
let echoes = 0;
const countRuns: CountRun[] = [];
const chatRuns: ChatRun[] = [];

/** Count's request: how many messages, and how large each (its index in its first 4 bytes). */
function countRequest(messages: number, size: number): Buffer {
  return Buffer.concat([u32(messages), u32(size)]);
}

const handlers = {
  Echo: (call: UnaryCall<Buffer>, callback: UnaryCallback<Buffer>) => {
    echoes++;
    callback(null, call.request);
  },
  Held: (call: UnaryCall<Buffer>, callback: UnaryCallback<Buffer>) => {
    const mine = gate;
    void mine.wait().then(() => {
      callback(null, call.request);
      mine.answer();
    });
  },
  // Writes as a well-behaved grpc-js handler does: until write() says to wait, then again on 'drain'.
  Count: (call: StreamCall<Buffer>) => {
    const total = call.request.readUInt32BE(0);
    const size = Math.max(4, call.request.readUInt32BE(4));
    const run: CountRun = { written: 0, waiting: false, ended: false, sawCancel: false, cancelled: once(call, 'cancelled') };
    countRuns.push(run);
    call.on('cancelled', () => (run.sawCancel = true));
    changed();
    const pump = () => {
      run.waiting = false;
      while (run.written < total) {
        if (call.cancelled) return;
        const message = Buffer.alloc(size);
        message.writeUInt32BE(run.written, 0);
        run.written++;
        if (!call.write(message)) {
          run.waiting = true;
          changed();
          call.once('drain', pump);
          return;
        }
      }
      run.ended = true;
      call.end();
    };
    pump();
  },
  Chat: (call: StreamCall<Buffer>) => {
    const run: ChatRun = { sawEnd: false, sawCancel: false };
    chatRuns.push(run);
    changed();
    call.on('cancelled', () => (run.sawCancel = true));
    call.on('data', (message: Buffer) => {
      if (String(message) === 'throw') throw new Error('a listener that fails');
      call.write(message);
    });
    call.on('end', () => {
      run.sawEnd = true;
      call.end();
    });
  },
};

function newServer(): GrpcServer {
  const server = new GrpcServer({ log: silentLogger });
  server.addService(SERVICE, handlers);
  return server;
}

// --- Lifecycle -------------------------------------------------------------------------------

let server: GrpcServer;
let port: number;
const cleanups: Array<() => Promise<void> | void> = [];

beforeAll(async () => {
  process.on('uncaughtException', onEscaped);
  process.on('unhandledRejection', onEscaped);
  server = newServer();
  port = await server.listen('127.0.0.1', 0);
});

afterAll(async () => {
  await server.shutdown(2_000);
  process.off('uncaughtException', onEscaped);
  process.off('unhandledRejection', onEscaped);
});

beforeEach(() => {
  gate = new Gate();
  countRuns.length = 0;
  chatRuns.length = 0;
});

afterEach(async () => {
  // Held handlers answer first, so that nothing is left counting on the server.
  gate.release();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  // Taken, so that one test's escape is not blamed on the next.
  expect(escaped.splice(0), 'errors escaped the server').toEqual([]);
});

// --- Clients ---------------------------------------------------------------------------------

function grpcClient(target: number, options: grpc.ChannelOptions = {}): grpc.Client {
  // A pool of its own: every client is a connection of its own, as the tests need.
  const client = new grpc.Client(`127.0.0.1:${target}`, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1, ...options });
  cleanups.push(() => client.close());
  return client;
}

const deadline = () => Date.now() + 20_000;

function unary(client: grpc.Client, path: string, body: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(path, identity, identity, body, new grpc.Metadata(), { deadline: deadline() }, (err, value) => (err ? reject(err) : resolve(value!)));
  });
}

/** Every message of a stream, once it has ended with OK. */
function collect(stream: grpc.ClientReadableStream<Buffer> | grpc.ClientDuplexStream<Buffer, Buffer>): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const messages: Buffer[] = [];
    stream.on('data', (message: Buffer) => messages.push(message));
    stream.on('error', reject);
    stream.on('end', () => resolve(messages));
  });
}

/** A TCP proxy counting the bytes the client sends, to see that a request was compressed. */
async function countingProxy(target: number): Promise<{ port: number; upstreamBytes: () => number }> {
  let bytes = 0;
  const sockets = new Set<Socket>();
  const proxy = createNetServer((inbound) => {
    const outbound = netConnect(target, '127.0.0.1');
    for (const socket of [inbound, outbound]) {
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => {
        sockets.delete(socket);
        inbound.destroy();
        outbound.destroy();
      });
    }
    inbound.on('data', (chunk: Buffer) => (bytes += chunk.length));
    inbound.pipe(outbound);
    outbound.pipe(inbound);
  });
  proxy.listen(0, '127.0.0.1');
  await once(proxy, 'listening');
  cleanups.push(() => {
    for (const socket of sockets) socket.destroy();
    return new Promise<void>((resolve) => proxy.close(() => resolve()));
  });
  return { port: (proxy.address() as AddressInfo).port, upstreamBytes: () => bytes };
}

type WriteMethod = (this: Socket, ...args: unknown[]) => unknown;

/**
 * Counts the writes the server's sockets hand to the system, one system call each (corked chunks
 * leave together in one _writev). The client's 'data' chunks alone cannot show it: the client
 * runs in the server's process and reads only between turns of the event loop, so two writes a
 * turn apart would still reach it as one chunk.
 */
function countServerWrites(serverPort: number): { count: () => number; restore: () => void } {
  const proto = Socket.prototype as unknown as { _write: WriteMethod; _writev: WriteMethod };
  const original = { _write: proto._write, _writev: proto._writev };
  let writes = 0;
  for (const name of ['_write', '_writev'] as const) {
    proto[name] = function (this: Socket, ...args: unknown[]) {
      if (this.localPort === serverPort) writes++;
      return original[name].apply(this, args);
    };
  }
  return {
    count: () => writes,
    restore: () => Object.assign(proto, original),
  };
}

interface SeenFrame extends Frame {
  /** Which socket 'data' chunk completed the frame. */
  readonly chunk: number;
}

/** An HTTP/2 client over a raw socket: sends bytes as given, records every frame the server sends. */
class RawH2 {
  readonly frames: SeenFrame[] = [];
  private readonly byStream = new Map<number, SeenFrame[]>();
  readonly chunks: Buffer[] = [];
  /** Every header block decoded, by stream. */
  readonly blocks = new Map<number, HeaderField[][]>();
  /** The last header block of each stream the server ended (END_STREAM on HEADERS). */
  readonly ends = new Map<number, Map<string, string>>();
  readonly resets = new Map<number, number>();
  readonly pingAcks: Buffer[] = [];
  /** The server's SETTINGS values, by identifier. */
  readonly settings = new Map<number, number>();
  /** WINDOW_UPDATE increments from the server, summed by stream (0: the connection). */
  readonly credit = new Map<number, number>();
  /** DATA payload bytes sent by sendData, by stream (0: the connection). */
  private readonly dataSent = new Map<number, number>();
  goaway: { readonly lastStreamId: number; readonly code: number; readonly debug: string } | undefined;
  /** The server has ended its side. */
  ended = false;
  closed = false;
  private readonly decoder = new HpackDecoder(4096, 1 << 20);
  private blockEndsStream = false;

  private constructor(readonly socket: Socket) {
    const toBlocks = headerBlocks((streamId, block) => this.onBlock(streamId, block));
    const read = frameReader(false, (f) => {
      const seen = { ...f, chunk: this.chunks.length - 1 };
      this.frames.push(seen);
      const onStream = this.byStream.get(f.streamId) ?? [];
      onStream.push(seen);
      this.byStream.set(f.streamId, onStream);
      if (f.type === FRAME_HEADERS) this.blockEndsStream = (f.flags & FLAG_END_STREAM) !== 0;
      if (f.type === FRAME_RST_STREAM && f.payload.length === 4) this.resets.set(f.streamId, f.payload.readUInt32BE(0));
      if (f.type === FRAME_PING && (f.flags & FLAG_ACK) !== 0) this.pingAcks.push(Buffer.from(f.payload));
      if (f.type === FRAME_SETTINGS && (f.flags & FLAG_ACK) === 0) {
        for (let at = 0; at + 6 <= f.payload.length; at += 6) this.settings.set(f.payload.readUInt16BE(at), f.payload.readUInt32BE(at + 2));
      }
      if (f.type === FRAME_WINDOW_UPDATE && f.payload.length === 4) this.credit.set(f.streamId, (this.credit.get(f.streamId) ?? 0) + (f.payload.readUInt32BE(0) & 0x7fffffff));
      if (f.type === FRAME_GOAWAY && f.payload.length >= 8) {
        this.goaway = { lastStreamId: f.payload.readUInt32BE(0) & 0x7fffffff, code: f.payload.readUInt32BE(4), debug: f.payload.subarray(8).toString() };
      }
      toBlocks(f);
    });
    socket.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk);
      read(chunk);
      changed();
    });
    socket.on('end', () => {
      this.ended = true;
      changed();
    });
    socket.on('close', () => {
      this.closed = true;
      changed();
    });
    socket.on('error', () => undefined);
  }

  /** Connects and sends the preface and `first` (by default an empty SETTINGS), without waiting for anything. */
  static async connect(target: number, first: Buffer = frame(FRAME_SETTINGS, 0, 0)): Promise<RawH2> {
    const socket = netConnect(target, '127.0.0.1');
    cleanups.push(() => void socket.destroy());
    await once(socket, 'connect');
    const raw = new RawH2(socket);
    socket.write(Buffer.concat([PREFACE, first]));
    return raw;
  }

  /** A connection past its handshake: the server has acknowledged the client's SETTINGS. */
  static async open(target: number): Promise<RawH2> {
    const raw = await RawH2.connect(target);
    await raw.until(() => raw.frames.some((f) => f.type === FRAME_SETTINGS && (f.flags & FLAG_ACK) !== 0), 'the SETTINGS acknowledgement');
    raw.send(frame(FRAME_SETTINGS, FLAG_ACK, 0));
    return raw;
  }

  send(...parts: Buffer[]): void {
    this.socket.write(parts.length === 1 ? parts[0]! : Buffer.concat(parts));
  }

  until(condition: () => boolean, what: string): Promise<void> {
    return until(condition, what, () => this.closed);
  }

  /** The server has ended the stream with a header block: its status fields. */
  async ending(streamId: number): Promise<Map<string, string>> {
    await this.until(() => this.ends.has(streamId), `the end of stream ${streamId}`);
    return this.ends.get(streamId)!;
  }

  /** A PING answered: every frame the server wrote before it has arrived. */
  async roundTrip(): Promise<void> {
    const token = Buffer.from(`rt${String(this.pingAcks.length).padStart(6, '0')}`);
    this.send(frame(FRAME_PING, 0, 0, token));
    await this.until(() => this.pingAcks.some((ack) => ack.equals(token)), 'the PING acknowledgement');
  }

  /** How much more DATA the server lets this client send on a stream (0: on the connection). */
  sendWindow(streamId: number): number {
    const initial = streamId === 0 ? DEFAULT_WINDOW : (this.settings.get(SETTINGS_INITIAL_WINDOW_SIZE) ?? DEFAULT_WINDOW);
    return initial + (this.credit.get(streamId) ?? 0) - (this.dataSent.get(streamId) ?? 0);
  }

  /**
   * Sends `payload` as DATA on a stream in frames of at most MAX_FRAME, never past the stream's or
   * the connection's window, waiting for the server's WINDOW_UPDATEs; END_STREAM on the last frame
   * if `end`. Stops early once `stop` holds. Resolves with the bytes sent.
   */
  async sendData(streamId: number, payload: Buffer, end: boolean, stop: () => boolean = () => false): Promise<number> {
    let at = 0;
    const room = () => Math.min(this.sendWindow(0), this.sendWindow(streamId), payload.length - at);
    while (at < payload.length && !stop()) {
      if (room() <= 0) {
        await this.until(() => room() > 0 || stop(), `window to send on stream ${streamId}`);
        continue;
      }
      const frames: Buffer[] = [];
      for (let n = room(); n > 0; n = room()) {
        const size = Math.min(MAX_FRAME, n);
        frames.push(dataFrame(streamId, payload.subarray(at, at + size), end && at + size === payload.length));
        at += size;
        for (const id of [0, streamId]) this.dataSent.set(id, (this.dataSent.get(id) ?? 0) + size);
      }
      this.send(...frames);
    }
    return at;
  }

  framesOn(streamId: number): SeenFrame[] {
    return this.byStream.get(streamId) ?? [];
  }

  private onBlock(streamId: number, block: Buffer): void {
    let fields: HeaderField[];
    try {
      fields = this.decoder.decode(block);
    } catch (err) {
      fields = [[':undecodable', String(err)]];
    }
    const list = this.blocks.get(streamId) ?? [];
    list.push(fields);
    this.blocks.set(streamId, list);
    if (this.blockEndsStream) this.ends.set(streamId, new Map(fields));
  }
}

/** A trailers-only answer (RFC: one HEADERS with END_STREAM, no DATA): its fields. */
async function trailersOnly(raw: RawH2, streamId: number): Promise<Map<string, string>> {
  const fields = await raw.ending(streamId);
  expect(raw.blocks.get(streamId), 'a single header block').toHaveLength(1);
  expect(raw.framesOn(streamId).filter((f) => f.type === FRAME_DATA), 'no DATA').toEqual([]);
  expect(fields.get('content-type')).toBe('application/grpc');
  return fields;
}

// --- Tests -----------------------------------------------------------------------------------

describe('the gRPC server and grpc-js', () => {
  it('answers a unary echo', async () => {
    const client = grpcClient(port);
    const body = Buffer.from('hello, server');
    expect(await unary(client, PATH.echo, body)).toEqual(body);
    expect(await unary(client, PATH.echo, Buffer.alloc(0))).toEqual(Buffer.alloc(0));
  });

  it('streams 1,000 messages in order', async () => {
    const client = grpcClient(port);
    const messages = await collect(client.makeServerStreamRequest(PATH.count, identity, identity, countRequest(1_000, 64), new grpc.Metadata(), { deadline: deadline() }));
    expect(messages.map((m) => m.readUInt32BE(0))).toEqual(Array.from({ length: 1_000 }, (_, i) => i));
    expect(messages.every((m) => m.length === 64)).toBe(true);
    expect(countRuns).toHaveLength(1);
    expect(countRuns[0]!.ended).toBe(true);
  });

  it('echoes a bidirectional stream', async () => {
    const client = grpcClient(port);
    const call = client.makeBidiStreamRequest(PATH.chat, identity, identity, new grpc.Metadata(), { deadline: deadline() });
    const messages = collect(call);
    for (const word of ['one', 'two', 'three']) call.write(Buffer.from(word));
    call.end();
    expect((await messages).map(String)).toEqual(['one', 'two', 'three']);
  });

  it("ends only the call whose stream listener throws (INTERNAL), not the connection", async () => {
    const client = grpcClient(port);
    const call = client.makeBidiStreamRequest(PATH.chat, identity, identity, new grpc.Metadata(), { deadline: deadline() });
    const messages = collect(call);
    call.write(Buffer.from('throw'));
    await expect(messages).rejects.toMatchObject({ code: grpc.status.INTERNAL, details: expect.stringMatching(/a listener that fails/) as unknown });
    expect(String(await unary(client, PATH.echo, Buffer.from('still here')))).toBe('still here');
  });

  it('answers an unknown method with UNIMPLEMENTED', async () => {
    const client = grpcClient(port);
    await expect(unary(client, '/test.Svc/Nope', Buffer.from('x'))).rejects.toMatchObject({ code: grpc.status.UNIMPLEMENTED, details: expect.stringMatching(/Nope/) as unknown });
    await expect(unary(client, '/other.Svc/Echo', Buffer.from('x'))).rejects.toMatchObject({ code: grpc.status.UNIMPLEMENTED });
  });

  // grpc-js compresses every message once the channel asks it to (its CompressionFilter);
  // the proxy's byte count shows the request really went compressed.
  it.each([
    ['deflate', 1],
    ['gzip', 2],
  ])('takes a %s-compressed request', async (_name, algorithm) => {
    const proxy = await countingProxy(port);
    const client = grpcClient(proxy.port, { 'grpc.default_compression_algorithm': algorithm });
    const body = Buffer.alloc(1 << 20, 'compressible ');
    expect((await unary(client, PATH.echo, body)).equals(body)).toBe(true);
    expect(proxy.upstreamBytes()).toBeLessThan(64 << 10);
  });

  it('takes a gzip-compressed message sent over raw frames', async () => {
    const raw = await RawH2.open(port);
    const body = Buffer.from('squeezed '.repeat(100));
    raw.send(headersFrame(1, PATH.echo, { extra: [['grpc-encoding', 'gzip']] }), dataFrame(1, grpcMessage(gzipSync(body), true)));
    expect((await raw.ending(1)).get('grpc-status')).toBe('0');
    const data = raw.framesOn(1).find((f) => f.type === FRAME_DATA);
    expect(data?.payload).toEqual(grpcMessage(body));
  });
});

describe('a unary answer', () => {
  // The reason the server exists (server-connection.ts): headers, message and trailers in one system call.
  it('leaves in one write and arrives in one socket read, HEADERS, DATA and trailers, 20 calls in a row', async () => {
    const raw = await RawH2.open(port);
    const writes = countServerWrites(port);
    cleanups.push(writes.restore);
    for (let i = 0; i < 20; i++) {
      const id = 2 * i + 1;
      const body = Buffer.from(`call number ${i}`);
      const before = raw.chunks.length;
      const writesBefore = writes.count();
      raw.send(unaryRequest(id, PATH.echo, body));
      await raw.ending(id);
      expect(writes.count() - writesBefore, `call ${i}: the server's writes`).toBe(1);
      const chunks = raw.chunks.slice(before);
      expect(chunks, `call ${i}: the answer came in ${chunks.length} reads`).toHaveLength(1);
      const inChunk: Frame[] = [];
      frameReader(false, (f) => inChunk.push(f))(chunks[0]!);
      expect(inChunk.reduce((n, f) => n + 9 + f.payload.length, 0), 'the read holds whole frames only').toBe(chunks[0]!.length);
      expect(inChunk.map((f) => [f.type, f.flags, f.streamId])).toEqual([
        [FRAME_HEADERS, FLAG_END_HEADERS, id],
        [FRAME_DATA, 0, id],
        [FRAME_HEADERS, FLAG_END_HEADERS | FLAG_END_STREAM, id],
      ]);
      expect(inChunk[1]!.payload).toEqual(grpcMessage(body));
      const [headers, trailers] = raw.blocks.get(id)!;
      expect(headers).toEqual(expect.arrayContaining([[':status', '200'], ['content-type', 'application/grpc']]));
      expect(trailers).toEqual([['grpc-status', '0']]);
    }
  });
});

describe('a refused call', () => {
  it('with the wrong content-type is answered 415, trailers only', async () => {
    const raw = await RawH2.open(port);
    raw.send(unaryRequest(1, PATH.echo, Buffer.from('{}'), { contentType: 'application/json' }));
    const fields = await trailersOnly(raw, 1);
    expect(fields.get(':status')).toBe('415');
    expect(fields.get('grpc-status')).not.toBe('0');
    expect(fields.get('grpc-message')).toMatch(/content-type/);
  });

  it('made with GET is answered 405, trailers only', async () => {
    const raw = await RawH2.open(port);
    raw.send(headersFrame(1, PATH.echo, { method: 'GET' }, true));
    const fields = await trailersOnly(raw, 1);
    expect(fields.get(':status')).toBe('405');
    expect(fields.get('grpc-status')).toBe(String(STATUS.unimplemented));
    expect(fields.get('grpc-message')).toMatch(/POST/);
  });

  it('past its deadline ends DEADLINE_EXCEEDED, and the handler answering later changes nothing', async () => {
    const raw = await RawH2.open(port);
    raw.send(unaryRequest(1, PATH.held, Buffer.from('slow'), { extra: [['grpc-timeout', '1m']] }));
    const fields = await trailersOnly(raw, 1);
    expect(fields.get(':status')).toBe('200');
    expect(fields.get('grpc-status')).toBe(String(STATUS.deadlineExceeded));
    expect(fields.get('grpc-message')).toMatch(/deadline/);
    expect(gate.entered).toBe(1);
    gate.release();
    await until(() => gate.answered === 1, 'the late answer');
    // A call after it on the same connection: anything the late answer wrote would come first.
    raw.send(unaryRequest(3, PATH.echo, Buffer.from('next')));
    expect((await raw.ending(3)).get('grpc-status')).toBe('0');
    expect(raw.framesOn(1).map((f) => f.type)).toEqual([FRAME_HEADERS]);
    expect(raw.goaway).toBeUndefined();
  });

  it('with a malformed grpc-timeout ends INTERNAL', async () => {
    const raw = await RawH2.open(port);
    raw.send(unaryRequest(1, PATH.echo, Buffer.from('x'), { extra: [['grpc-timeout', 'x']] }));
    const fields = await trailersOnly(raw, 1);
    expect(fields.get('grpc-status')).toBe(String(STATUS.internal));
    expect(fields.get('grpc-message')).toMatch(/grpc-timeout/);
  });

  it('with the longest deadline grpc-timeout can say is served, not refused', async () => {
    const raw = await RawH2.open(port);
    raw.send(unaryRequest(1, PATH.echo, Buffer.from('x'), { extra: [['grpc-timeout', '99999999H']] }));
    expect((await raw.ending(1)).get('grpc-status')).toBe('0');
  });

  it('announcing a message over 4 MiB ends RESOURCE_EXHAUSTED before the message is sent', async () => {
    const raw = await RawH2.open(port);
    const prefix = Buffer.concat([Buffer.from([0]), u32((4 << 20) + 1)]);
    raw.send(headersFrame(1, PATH.echo), dataFrame(1, prefix, false));
    const fields = await trailersOnly(raw, 1);
    expect(fields.get('grpc-status')).toBe(String(STATUS.resourceExhausted));
    expect(fields.get('grpc-message')).toMatch(/\d+ bytes/);
  });

  it('with two request messages on a unary method ends with an error status', async () => {
    const raw = await RawH2.open(port);
    raw.send(headersFrame(1, PATH.echo), dataFrame(1, Buffer.concat([grpcMessage(Buffer.from('a')), grpcMessage(Buffer.from('b'))])));
    const fields = await trailersOnly(raw, 1);
    expect(fields.get('grpc-status')).not.toBe('0');
    expect(fields.get('grpc-message')).toMatch(/one/);
    expect(gate.entered).toBe(0);
  });

  it.each([
    ['1H', 3_600_000],
    ['2M', 120_000],
    ['3S', 3_000],
    ['4m', 4],
    ['5u', 0.005],
    ['6n', 0.000_006],
    ['99999999H', 99_999_999 * 3_600_000],
  ])('parseTimeout(%j) is %d ms', (value, ms) => {
    expect(parseTimeout(value)).toBeCloseTo(ms, 12);
  });

  it('parseTimeout: absent is no deadline; anything but 1-8 digits and a unit is NaN', () => {
    expect(parseTimeout(undefined)).toBeUndefined();
    for (const bad of ['x', '', '1', 'S', '123456789S', '1s', '1h', '-1S', ' 1S', '1S ', '1.5S', ['1S'], ['1S', '2S']]) {
      expect(parseTimeout(bad), JSON.stringify(bad)).toBeNaN();
    }
  });
});

describe('the stream limit', () => {
  it(`refuses the stream past ${STREAM_LIMIT} held ones (REFUSED_STREAM), then answers all once released`, async () => {
    const raw = await RawH2.open(port);
    const ids = Array.from({ length: STREAM_LIMIT + 1 }, (_, i) => 2 * i + 1);
    raw.send(...ids.map((id) => unaryRequest(id, PATH.held, u32(id))));
    const extra = ids[STREAM_LIMIT]!;
    await raw.until(() => raw.resets.has(extra), `a reset of stream ${extra}`);
    expect(raw.resets.get(extra)).toBe(REFUSED_STREAM);
    await until(() => gate.entered === STREAM_LIMIT, `${STREAM_LIMIT} held handlers`);
    expect(raw.resets.size).toBe(1);
    expect(raw.ends.size).toBe(0);

    gate.release();
    await raw.until(() => raw.ends.size === STREAM_LIMIT, `${STREAM_LIMIT} answers`);
    for (const id of ids.slice(0, STREAM_LIMIT)) {
      expect(raw.ends.get(id)?.get('grpc-status'), `stream ${id}`).toBe('0');
      expect(raw.framesOn(id).find((f) => f.type === FRAME_DATA)?.payload).toEqual(grpcMessage(u32(id)));
    }
    // Answered streams stop counting: the connection takes new ones again.
    raw.send(unaryRequest(extra + 2, PATH.echo, Buffer.from('after')));
    expect((await raw.ending(extra + 2)).get('grpc-status')).toBe('0');
    expect(raw.goaway).toBeUndefined();
  });

  it('keeps counting 3,000 streams reset by the client while their handlers hold, and lives on', async () => {
    const raw = await RawH2.open(port);
    const total = 3_000;
    const ids = Array.from({ length: total }, (_, i) => 2 * i + 1);
    raw.send(...ids.map((id) => Buffer.concat([unaryRequest(id, PATH.held, u32(id)), rstFrame(id, CANCEL)])));
    // A reset stream counts until its handler is done: the ones past the limit are refused.
    await raw.until(() => raw.resets.size === total - STREAM_LIMIT, `${total - STREAM_LIMIT} refusals`);
    expect([...raw.resets.keys()]).toEqual(ids.slice(STREAM_LIMIT));
    expect(new Set(raw.resets.values())).toEqual(new Set([REFUSED_STREAM]));
    expect(gate.entered).toBe(STREAM_LIMIT);
    await raw.roundTrip();

    gate.release();
    await until(() => gate.answered === STREAM_LIMIT, 'every held handler answering');
    await raw.roundTrip();
    // The client reset them: nothing of the late answers may reach it.
    expect(raw.frames.filter((f) => f.type === FRAME_HEADERS || f.type === FRAME_DATA)).toEqual([]);
    expect(raw.goaway).toBeUndefined();

    expect(String(await unary(grpcClient(port), PATH.echo, Buffer.from('fresh')))).toBe('fresh');
    // And the connection's slots are free again.
    raw.send(unaryRequest(2 * total + 1, PATH.echo, Buffer.from('same')));
    expect((await raw.ending(2 * total + 1)).get('grpc-status')).toBe('0');
  });

  // No handler runs yet for a unary call whose request has not ended: when the client resets it,
  // its stream must stop counting at once, or each such call would hold a slot until the
  // connection closes.
  it(`frees the slot of a unary call reset before its request ended (${STREAM_LIMIT} of them, then one more call)`, async () => {
    const raw = await RawH2.open(port);
    const ids = Array.from({ length: STREAM_LIMIT }, (_, i) => 2 * i + 1);
    raw.send(...ids.map((id) => Buffer.concat([headersFrame(id, PATH.echo), rstFrame(id, CANCEL)])));
    await raw.roundTrip();
    const next = 2 * STREAM_LIMIT + 1;
    raw.send(unaryRequest(next, PATH.echo, Buffer.from('room?')));
    await raw.until(() => raw.ends.has(next) || raw.resets.has(next), `an answer to stream ${next}`);
    expect(raw.resets.get(next), `stream ${next} was refused`).toBeUndefined();
    expect(raw.ends.get(next)?.get('grpc-status')).toBe('0');
  });
});

// Each request message is bounded (4 MiB), but a connection's calls together are bounded too: a
// client announcing large messages on many streams and never finishing them would otherwise make
// the server hold 2,048 × 4 MiB. The call that takes the connection past the bound fails, and only
// it: the connection and the calls under the bound live on.
describe('the bound on request bytes a connection holds unfinished', () => {
  it(`fails only the call that takes a connection past ${MAX_HELD_REQUEST_BYTES >> 20} MiB (RESOURCE_EXHAUSTED), and frees what reset calls held`, async () => {
    const raw = await RawH2.open(port);
    const started = Date.now();
    // Every stream announces the largest message allowed and sends most of it, never all:
    // 16 such streams stay under the bound, the 17th crosses it.
    const sent = 4_000_000;
    expect(16 * sent).toBeLessThan(MAX_HELD_REQUEST_BYTES);
    expect(17 * sent).toBeGreaterThan(MAX_HELD_REQUEST_BYTES);
    const unfinished = Buffer.concat([Buffer.from([0]), u32(MESSAGE_MAX_BYTES), Buffer.alloc(sent)]);
    const ids = Array.from({ length: 17 }, (_, i) => 2 * i + 1);
    const held = ids.slice(0, 16);
    const crossing = ids[16]!;
    const echoesBefore = echoes;
    let moved = 0;

    // One stream after the other, so that the 17th is the one to cross.
    for (const id of ids) {
      raw.send(headersFrame(id, PATH.echo));
      const n = await raw.sendData(id, unfinished, false, () => raw.ends.has(id) || raw.resets.has(id));
      if (id !== crossing) expect(n, `bytes sent on stream ${id}`).toBe(unfinished.length);
      moved += n;
    }
    await raw.roundTrip();
    expect([...raw.ends.keys()], 'the streams the server ended').toEqual([crossing]);
    const fields = await trailersOnly(raw, crossing);
    expect(fields.get('grpc-status')).toBe(String(STATUS.resourceExhausted));
    expect(fields.get('grpc-message')).toMatch(new RegExp(`${MAX_HELD_REQUEST_BYTES >> 20} MiB of unfinished request messages`));
    // The answer is whole while the client still sends: it is told to stop (RST_STREAM NO_ERROR).
    expect([...raw.resets]).toEqual([[crossing, 0]]);
    const answered = (id: number) => raw.framesOn(id).filter((f) => f.type !== FRAME_WINDOW_UPDATE);
    for (const id of held) expect(answered(id), `frames on held stream ${id}`).toEqual([]);
    expect(raw.goaway).toBeUndefined();

    raw.send(...held.map((id) => rstFrame(id, CANCEL)));
    await raw.roundTrip();
    for (const id of held) expect(answered(id), `frames on reset stream ${id}`).toEqual([]);
    expect(echoes, 'echo handlers run for the held and failed calls').toBe(echoesBefore);

    // What the reset calls held is let go: a message as large again (which 64,000,000 bytes still
    // held would push over the bound as it arrives) is taken and echoed on the same connection.
    const next = crossing + 2;
    const body = Buffer.alloc(sent);
    for (let at = 0; at < body.length; at += 4) body.writeUInt32BE(at, at);
    const request = grpcMessage(body);
    // Window for the echo to come back in.
    raw.send(frame(FRAME_WINDOW_UPDATE, 0, 0, u32(8 << 20)), headersFrame(next, PATH.echo), frame(FRAME_WINDOW_UPDATE, 0, next, u32(8 << 20)));
    const n = await raw.sendData(next, request, true, () => raw.ends.has(next) || raw.resets.has(next));
    moved += n;
    const ending = await raw.ending(next);
    expect(ending.get('grpc-status'), ending.get('grpc-message')).toBe('0');
    expect(n).toBe(request.length);
    const echoed = Buffer.concat(raw.framesOn(next).filter((f) => f.type === FRAME_DATA).map((f) => f.payload));
    expect(echoed.equals(request), 'the echo is the request').toBe(true);
    expect(echoes).toBe(echoesBefore + 1);
    expect(raw.goaway).toBeUndefined();
    expect(raw.ended).toBe(false);
    console.log(`${moved} request bytes sent in ${Date.now() - started} ms`);
  }, 60_000);
});

// When the server itself resets a stream for a client's protocol error, a streaming handler still
// running must learn that its call is over ('cancelled'), as it does when the client resets:
// otherwise it waits for a 'drain' that never comes, or keeps writing into nothing, for ever,
// while its stream no longer counts against the limit.
describe('a stream the server resets for a protocol error', () => {
  it('tells its bidi handler: request trailers on an open stream', async () => {
    const raw = await RawH2.open(port);
    raw.send(headersFrame(1, PATH.chat), dataFrame(1, grpcMessage(Buffer.from('hi')), false));
    await raw.until(() => raw.framesOn(1).some((f) => f.type === FRAME_DATA), 'the echo');
    expect(chatRuns).toHaveLength(1);
    raw.send(frame(FRAME_HEADERS, FLAG_END_HEADERS | FLAG_END_STREAM, 1, encodeHeaderBlock([['x-trailer', 'no']])));
    await raw.until(() => raw.resets.has(1), 'the reset');
    expect(raw.resets.get(1)).toBe(PROTOCOL_ERROR);
    await raw.roundTrip();
    expect(chatRuns[0]!.sawEnd, 'the handler heard nothing of the stream since').toBe(false);
    expect(chatRuns[0]!.sawCancel, 'the handler was told the call is over').toBe(true);
  });

  it('tells its server-streaming handler: DATA after the request ended', async () => {
    const raw = await RawH2.open(port);
    // The raw client never opens its window: the handler soon waits for 'drain'.
    raw.send(unaryRequest(1, PATH.count, countRequest(1_000_000, 1_024)));
    await until(() => countRuns[0]?.waiting === true, 'the handler waiting for drain');
    raw.send(dataFrame(1, grpcMessage(Buffer.from('late'))));
    await raw.until(() => raw.resets.has(1), 'the reset');
    expect(raw.resets.get(1)).toBe(STREAM_CLOSED);
    await raw.roundTrip();
    expect(countRuns[0]!.sawCancel, 'the handler was told the call is over').toBe(true);
  });
});

describe('hostile bytes (seeded)', () => {
  type Outcome = 'usable' | 'goaway' | 'closed';

  /**
   * One connection: preface, SETTINGS, `bytes`, whatever completes their last frame, then a PING.
   * The server must answer the PING (the connection is still usable) or end the connection.
   */
  async function probe(bytes: Buffer, label: string): Promise<Outcome> {
    const token = Buffer.from('fuzzping');
    const raw = await RawH2.connect(port, Buffer.concat([frame(FRAME_SETTINGS, 0, 0), bytes, completion(bytes), frame(FRAME_PING, 0, 0, token)]));
    try {
      await until(() => raw.goaway !== undefined || raw.ended || raw.pingAcks.some((ack) => ack.equals(token)), `${label}: an answer to the PING or an end`, () => raw.closed);
      if (raw.goaway !== undefined && raw.goaway.code !== 0) {
        // A protocol error: the server must also close its side, not only say so.
        await until(() => raw.ended, `${label}: the server closing after GOAWAY ${raw.goaway.code} (${raw.goaway.debug})`, () => raw.closed);
      }
      return raw.goaway !== undefined ? 'goaway' : raw.pingAcks.length > 0 ? 'usable' : 'closed';
    } finally {
      raw.socket.destroy();
    }
  }

  async function fuzz(name: string, inputs: fc.Arbitrary<Buffer>): Promise<Record<Outcome, number>> {
    const seed = testSeed(name);
    const outcomes: Record<Outcome, number> = { usable: 0, goaway: 0, closed: 0 };
    for (const [i, bytes] of fc.sample(inputs, { numRuns: 200, seed }).entries()) {
      outcomes[await probe(bytes, `input ${i} (seed ${seed}) ${bytes.toString('hex')}`)]++;
      expect(escaped, `input ${i} (seed ${seed}): ${bytes.toString('hex')}`).toEqual([]);
    }
    console.log(`${name}:`, outcomes);
    expect(await unary(grpcClient(port), PATH.echo, Buffer.from('still here'))).toEqual(Buffer.from('still here'));
    return outcomes;
  }

  it('survives 200 random byte strings after a valid preface and SETTINGS', async () => {
    const bytes = fc.oneof(
      fc.uint8Array({ minLength: 1, maxLength: 300 }),
      // A length under the frame limit, so that the rest is read as a frame and not refused outright.
      fc.uint8Array({ minLength: 3, maxLength: 300 }).map((b) => Uint8Array.from([0, 0, ...b.subarray(2)])),
    );
    const outcomes = await fuzz('survives 200 random byte strings', bytes.map((b) => Buffer.from(b)));
    expect(outcomes.goaway).toBeGreaterThan(0);
  });

  it('survives 200 sequences of well-formed frames of any type, flags and stream, garbage HPACK included', async () => {
    const requestBlock = fc
      .record({
        path: fc.constantFrom(PATH.echo, PATH.chat, '/test.Svc/Nope', ''),
        method: fc.constantFrom('POST', 'GET'),
        contentType: fc.constantFrom('application/grpc', 'text/plain'),
        extra: fc.subarray<[string, string]>([['grpc-timeout', '1m'], ['grpc-timeout', 'x'], ['grpc-encoding', 'gzip'], ['grpc-encoding', 'br']]),
      })
      .map(({ path, ...shape }) => encodeHeaderBlock(requestFields(path, shape)));
    const damagedBlock = fc.tuple(requestBlock, fc.nat(), fc.integer({ min: 0, max: 255 })).map(([block, at, byte]) => {
      const copy = Buffer.from(block);
      copy[at % copy.length] = byte;
      return copy;
    });
    const payload = fc.oneof(
      { weight: 4, arbitrary: fc.uint8Array({ maxLength: 100 }).map((b) => Buffer.from(b)) },
      { weight: 2, arbitrary: requestBlock },
      { weight: 2, arbitrary: damagedBlock },
      { weight: 1, arbitrary: fc.uint8Array({ maxLength: 40 }).map((b) => grpcMessage(Buffer.from(b))) },
      // The sizes PING, RST_STREAM, WINDOW_UPDATE, PRIORITY and SETTINGS want, so that some are accepted.
      { weight: 2, arbitrary: fc.constantFrom(4, 5, 6, 8, 12).chain((n) => fc.uint8Array({ minLength: n, maxLength: n })).map((b) => Buffer.from(b)) },
    );
    const streamId = fc.oneof(fc.constantFrom(0, 1, 2, 3, 5, 0x7fffffff), fc.integer({ min: 0, max: 0x7fffffff }));
    const oneFrame = fc.record({ type: fc.integer({ min: 0, max: 10 }), flags: fc.integer({ min: 0, max: 255 }), streamId, payload }).map((f) => frame(f.type, f.flags, f.streamId, f.payload));
    const outcomes = await fuzz('survives 200 sequences of well-formed frames', fc.array(oneFrame, { minLength: 1, maxLength: 8 }).map((frames) => Buffer.concat(frames)));
    expect(outcomes.goaway).toBeGreaterThan(0);
  });
});

describe('a server stream the client cancels', () => {
  it('tells the handler (cancelled) long before it has written 100,000 messages', async () => {
    const client = grpcClient(port);
    const call = client.makeServerStreamRequest(PATH.count, identity, identity, countRequest(100_000, 1_024), new grpc.Metadata(), { deadline: deadline() });
    const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
    call.on('error', () => undefined);
    const [first] = (await once(call, 'data')) as [Buffer];
    expect(first.readUInt32BE(0)).toBe(0);
    call.cancel();
    await until(() => countRuns.length === 1, 'the handler');
    const run = countRuns[0]!;
    await run.cancelled;
    expect((await status).code).toBe(grpc.status.CANCELLED);
    expect(run.ended).toBe(false);
    console.log(`messages written before the cancel was seen: ${run.written}`);
    expect(run.written).toBeLessThan(10_000);
  });
});

describe('graceful shutdown', () => {
  /** A server of its own, shut down by the test (by the cleanup only if the test failed first). */
  async function serverToShutDown(): Promise<{ port: number; shutDown(grace_ms: number): { done: Promise<void>; ended(): boolean; started: number } }> {
    const server = newServer();
    const port = await server.listen('127.0.0.1', 0);
    let shutdown: Promise<void> | undefined;
    let ended = false;
    cleanups.push(() => shutdown ?? server.shutdown(100));
    return {
      port,
      shutDown(grace_ms) {
        const started = Date.now();
        shutdown = server.shutdown(grace_ms).then(() => {
          ended = true;
        });
        return { done: shutdown, ended: () => ended, started };
      },
    };
  }

  it('refuses new connections, lets the call in flight finish, then resolves', async () => {
    const second = await serverToShutDown();
    const held = unary(grpcClient(second.port), PATH.held, Buffer.from('in flight'));
    await until(() => gate.entered === 1, 'the held call');
    const shutdown = second.shutDown(5_000);

    await expect(unary(grpcClient(second.port), PATH.echo, Buffer.from('late'))).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
    // Refused by the system, not accepted and dropped: the server no longer listens.
    const refused = netConnect(second.port, '127.0.0.1');
    await expect(once(refused, 'connect')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    expect(shutdown.ended(), 'shutdown waits for the call in flight').toBe(false);

    gate.release();
    expect(await held).toEqual(Buffer.from('in flight'));
    await shutdown.done;
    // It ended because the last call did, not because the grace ran out.
    expect(Date.now() - shutdown.started).toBeLessThan(5_000);
  });

  it('ends an open stream at once (UNAVAILABLE) while a unary call in flight still finishes', async () => {
    const second = await serverToShutDown();
    // A stream that would never end by itself, as a health watch does not.
    const chat = grpcClient(second.port).makeBidiStreamRequest(PATH.chat, identity, identity, new grpc.Metadata(), { deadline: deadline() });
    const chatEnded = new Promise<grpc.StatusObject>((resolve) => chat.on('status', resolve));
    chat.on('data', () => undefined);
    chat.on('error', () => undefined);
    chat.write(Buffer.from('hello'));
    await until(() => chatRuns.length === 1, 'the stream');
    const held = unary(grpcClient(second.port), PATH.held, Buffer.from('in flight'));
    await until(() => gate.entered === 1, 'the held call');

    const shutdown = second.shutDown(5_000);
    const ended = await chatEnded;
    expect(ended.code).toBe(grpc.status.UNAVAILABLE);
    expect(ended.details).toMatch(/shutting down/);
    expect(chatRuns[0]!.sawCancel, 'the stream handler is told').toBe(true);
    expect(shutdown.ended(), 'shutdown still waits for the unary call').toBe(false);

    gate.release();
    expect(await held).toEqual(Buffer.from('in flight'));
    await shutdown.done;
    expect(Date.now() - shutdown.started, 'shutdown ended with the unary call, not the grace').toBeLessThan(2_000);
  });
});
