import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { gunzipSync, inflateSync } from 'node:zlib';
import type { Logger } from '../../util/log.js';
import { H2_ERROR } from '../h2/frames.js';
import { encodeHeaderBlock } from '../h2/hpack.js';
import { H2ServerConnection, MAX_HELD_REQUEST_BYTES, type ServerStream } from '../h2/server-connection.js';
import { RequestMetadata, StreamCall, UnaryCallHandle, type CallError, type UnaryCall, type UnaryCallback } from './calls.js';
import { MessageReader, messagePrefix, PREFIX_BYTES } from './message-reader.js';
import { MESSAGE_MAX_BYTES, percentEncoded, STATUS } from './status.js';

/**
 * A gRPC server (PROTOCOL-HTTP2.md) over ecom's own HTTP/2 server connection, for the portals:
 * unary, server-streaming and bidirectional methods, deadlines (grpc-timeout), gzip and deflate
 * requests, TLS with ALPN "h2", and graceful shutdown. Services are added as grpc-js takes them
 * (a definition from @grpc/proto-loader or written by hand, and handlers by method name), so the
 * health and reflection libraries register themselves here unchanged. Why not grpc-js: see
 * src/net/h2/server-connection.ts.
 *
 * A unary answer leaves in one system call: its headers, its message and its trailers are
 * written in the same turn, and the connection's writer holds them corked until the next tick.
 */

/** One method as grpc-js's ServiceDefinition describes it. */
export interface GrpcMethod {
  readonly path: string;
  readonly requestStream: boolean;
  readonly responseStream: boolean;
  readonly requestDeserialize: (bytes: Buffer) => unknown;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- grpc-js's definitions type it so; every value a handler answers goes through it
  readonly responseSerialize: (value: any) => Buffer;
  readonly originalName?: string;
}

export type CallKind = 'unary' | 'server_stream' | 'bidi_stream';

/** Counts and times calls (the portals' metrics); only methods served are seen, so labels stay bounded. */
export interface CallObserver {
  call(path: string, kind: CallKind): CallRecord;
}

export interface CallRecord {
  /** A response message is being sent. */
  message(value: unknown): void;
  /** The call ended with this status. */
  status(code: number): void;
}

export interface GrpcServerOptions {
  readonly log: Logger;
  /** Serve TLS with this certificate chain and key (PEM); plain HTTP/2 otherwise. */
  readonly tls?: { readonly cert: Buffer; readonly key: Buffer };
  readonly observer?: CallObserver;
}

type Handler = (call: unknown, callback?: unknown) => void;

interface Route {
  readonly method: GrpcMethod;
  readonly kind: CallKind;
  readonly handler: Handler;
}

const RESPONSE_HEADERS = encodeHeaderBlock([
  [':status', '200'],
  ['content-type', 'application/grpc'],
  ['grpc-accept-encoding', 'identity,deflate,gzip'],
]);
const OK_TRAILERS = encodeHeaderBlock([['grpc-status', '0']]);
/** The request message encodings served (grpc-encoding). */
const ENCODINGS: ReadonlySet<string> = new Set(['identity', 'gzip', 'deflate']);
const TIMEOUT_UNITS_MS: Readonly<Record<string, number>> = { H: 3_600_000, M: 60_000, S: 1_000, m: 1, u: 1e-3, n: 1e-6 };
/** The longest deadline a timer is armed for (setTimeout's limit); a later one is as good as none. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** The status detail of a streaming call a shutdown ends. */
const SHUTTING_DOWN = 'the server is shutting down: call again, on another server if there is one';

/** The status block that ends a call: trailers after headers, or the whole answer ("trailers-only"). */
function statusBlock(code: number, details: string, trailersOnly: boolean, httpStatus = '200'): Buffer {
  const fields: Array<[string, string]> = trailersOnly ? [[':status', httpStatus], ['content-type', 'application/grpc']] : [];
  fields.push(['grpc-status', String(code)]);
  if (details !== '') fields.push(['grpc-message', percentEncoded(details)]);
  return encodeHeaderBlock(fields);
}

/** grpc-timeout: up to 8 digits and a unit; undefined if absent, NaN if malformed. */
export function parseTimeout(value: string | string[] | undefined): number | undefined {
  if (value === undefined) return undefined;
  const match = typeof value === 'string' ? /^(\d{1,8})([HMSmun])$/.exec(value) : null;
  if (match === null) return NaN;
  return Number(match[1]) * TIMEOUT_UNITS_MS[match[2]!]!;
}

function header(headers: Record<string, string | string[]>, name: string): string | undefined {
  const value = headers[name];
  return typeof value === 'string' ? value : undefined;
}

export class GrpcServer {
  private readonly routes = new Map<string, Route>();
  private readonly listeners: NetServer[] = [];
  private readonly connections = new Set<H2ServerConnection>();
  private readonly sockets = new Set<Socket>();
  /** Server-streaming and bidi calls in progress: the ones a shutdown ends at once. */
  private readonly streamingCalls = new Set<CallInProgress>();
  private draining = false;
  private readonly whenIdle: Array<() => void> = [];

  constructor(private readonly options: GrpcServerOptions) {}

  /** Registers a service's methods, as grpc-js's Server.addService does (handlers by method name or original name). */
  addService(service: Readonly<Record<string, GrpcMethod>>, implementation: object): void {
    const handlers = implementation as Record<string, Handler | undefined>;
    for (const [name, method] of Object.entries(service)) {
      const handler = handlers[name] ?? (method.originalName === undefined ? undefined : handlers[method.originalName]);
      if (handler === undefined) throw new Error(`no handler for ${method.path}`);
      if (method.requestStream && !method.responseStream) throw new Error(`${method.path}: client-streaming methods are not served`);
      if (this.routes.has(method.path)) throw new Error(`${method.path} is added twice`);
      const kind: CallKind = method.requestStream ? 'bidi_stream' : method.responseStream ? 'server_stream' : 'unary';
      this.routes.set(method.path, { method, kind, handler });
    }
  }

  /** Listens on host:port (0 picks a free port); resolves with the port bound. */
  listen(host: string, port: number): Promise<number> {
    const tls = this.options.tls;
    const server = tls === undefined
      ? createNetServer((socket) => this.accept(socket))
      : createTlsServer({ cert: tls.cert, key: tls.key, ALPNProtocols: ['h2'] }, (socket) => this.acceptTls(socket));
    if (tls !== undefined) server.on('tlsClientError', (err: Error) => this.options.log.debug({ err }, 'a TLS handshake failed'));
    const address = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
    return new Promise((resolve, reject) => {
      server.once('error', (err: Error) => {
        const hint = /EADDRINUSE/.test(err.message) ? ` (port ${port} is in use: stop what runs there or choose another port)` : '';
        reject(new Error(`cannot listen on ${address}: ${err.message}${hint}`));
      });
      server.listen(port, host, () => {
        this.listeners.push(server);
        const bound = server.address();
        resolve(typeof bound === 'object' && bound !== null ? bound.port : port);
      });
    });
  }

  /**
   * Stops listening, tells every connection to open no more streams (GOAWAY), and resolves once
   * the calls in flight have ended, or after `grace_ms`, when the rest are cut. Unary calls get
   * the grace to finish; streaming calls end at once with UNAVAILABLE, since a stream such as a
   * health watch never ends by itself and would hold every shutdown for the whole grace.
   */
  shutdown(grace_ms: number): Promise<void> {
    this.draining = true;
    for (const listener of this.listeners) listener.close();
    for (const connection of this.connections) connection.drain();
    for (const call of [...this.streamingCalls]) call.fail(STATUS.unavailable, SHUTTING_DOWN);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        for (const socket of this.sockets) socket.destroy();
      }, grace_ms);
      this.whenIdle.push(() => {
        clearTimeout(timer);
        resolve();
      });
      this.resolveIfIdle();
    });
  }

  /** Connections end themselves once their calls are done; the last one to close ends a shutdown. */
  private resolveIfIdle(): void {
    if (!this.draining || this.sockets.size > 0) return;
    for (const done of this.whenIdle.splice(0)) done();
  }

  private acceptTls(socket: TLSSocket): void {
    if (socket.alpnProtocol !== 'h2') {
      this.options.log.debug({ alpn: socket.alpnProtocol }, 'a TLS client did not ask for HTTP/2 (ALPN h2): closed');
      socket.destroy();
      return;
    }
    this.accept(socket);
  }

  private accept(socket: Socket): void {
    if (this.draining) {
      socket.destroy();
      return;
    }
    this.sockets.add(socket);
    const connection = new H2ServerConnection(socket, {
      onStream: (stream) => this.onStream(stream),
      onError: (err) => this.options.log.debug({ err, peer: socket.remoteAddress }, 'a gRPC connection failed'),
    });
    this.connections.add(connection);
    socket.once('close', () => {
      this.sockets.delete(socket);
      this.connections.delete(connection);
      this.resolveIfIdle();
    });
  }

  private onStream(stream: ServerStream): void {
    const headers = stream.headers;
    const refuse = (code: number, details: string, httpStatus = '200') => stream.end(statusBlock(code, details, true, httpStatus));
    if (header(headers, ':method') !== 'POST') return refuse(STATUS.unimplemented, `gRPC calls are POST requests, not ${header(headers, ':method') ?? 'none'}`, '405');
    if (header(headers, 'content-type')?.startsWith('application/grpc') !== true) {
      return refuse(STATUS.unknown, `a gRPC request has content-type application/grpc, not ${header(headers, 'content-type') ?? 'none'}`, '415');
    }
    const path = header(headers, ':path') ?? '';
    const route = this.routes.get(path);
    if (route === undefined) return refuse(STATUS.unimplemented, `the server does not serve the method ${JSON.stringify(path.slice(0, 200))}`);
    const encoding = header(headers, 'grpc-encoding') ?? 'identity';
    if (!ENCODINGS.has(encoding)) return refuse(STATUS.unimplemented, `the message encoding ${JSON.stringify(encoding.slice(0, 50))} is not served; use identity, gzip or deflate`);
    const timeout = parseTimeout(headers['grpc-timeout']);
    if (Number.isNaN(timeout)) return refuse(STATUS.internal, 'a malformed grpc-timeout header: digits (up to 8) and one of H, M, S, m, u, n');
    // Streaming calls are kept for a shutdown to end (none starts once it began: a draining connection refuses new streams).
    const streaming = route.kind !== 'unary';
    const call = new CallInProgress(stream, route, encoding, timeout, this.options.observer?.call(path, route.kind), this.options.log, streaming ? () => this.streamingCalls.delete(call) : undefined);
    if (streaming) this.streamingCalls.add(call);
    call.start();
  }
}

/** One call, from its request headers to its status. */
class CallInProgress {
  private readonly reader: MessageReader;
  private readonly requests: unknown[] = [];
  private streamCall: StreamCall<unknown> | undefined;
  private done = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly metadata: RequestMetadata;
  /** Bytes of this call's unfinished request messages counted against the connection. */
  private held = 0;
  /** A unary handler has the call and has not answered yet. */
  private unaryRunning = false;

  constructor(
    private readonly stream: ServerStream,
    private readonly route: Route,
    private readonly encoding: string,
    private readonly timeout_ms: number | undefined,
    private readonly record: CallRecord | undefined,
    private readonly log: Logger,
    /** Told once, when the call has ended or been cancelled. */
    private readonly whenOver: () => void = () => undefined,
  ) {
    this.reader = new MessageReader(MESSAGE_MAX_BYTES, (announced) => new CallFailure(STATUS.resourceExhausted, `a request message of ${announced} bytes, over the ${MESSAGE_MAX_BYTES} allowed`));
    this.metadata = new RequestMetadata(stream.headers);
  }

  start(): void {
    this.stream.events = {
      onData: (chunk, end) => this.onData(chunk, end),
      onCancel: () => this.cancel(),
      onDrain: () => this.streamCall?.emit('drain'),
    };
    if (this.timeout_ms !== undefined && this.timeout_ms < MAX_TIMER_MS) {
      this.timer = setTimeout(() => this.fail(STATUS.deadlineExceeded, 'the deadline passed before the call ended'), this.timeout_ms);
    }
    if (this.route.kind === 'bidi_stream') this.dispatchStream(undefined);
  }

  private onData(chunk: Buffer, end: boolean): void {
    if (this.done) return;
    try {
      this.reader.push(chunk, (bytes, compressed) => this.onMessage(bytes, compressed));
      this.holdBuffered();
    } catch (err) {
      if (err instanceof CallFailure) return this.fail(err.code, err.message);
      throw err;
    }
    if (!end || this.done) return;
    if (this.reader.partial) return this.fail(STATUS.internal, 'the request ended inside a message');
    if (this.route.kind === 'bidi_stream') {
      this.invoke(() => this.streamCall?.emit('end'));
      return;
    }
    if (this.requests.length !== 1) return this.fail(STATUS.internal, `a ${this.route.kind === 'unary' ? 'unary' : 'server-streaming'} call takes one request message, not ${this.requests.length}`);
    const request = this.requests[0];
    if (this.route.kind === 'unary') this.dispatchUnary(request);
    else this.dispatchStream(request);
  }

  /** Counts the bytes of unfinished request messages against the connection's bound. */
  private holdBuffered(): void {
    const held = this.done ? 0 : this.reader.buffered;
    const over = this.stream.hold(held - this.held);
    this.held = held;
    if (over) throw new CallFailure(STATUS.resourceExhausted, `the connection holds over ${MAX_HELD_REQUEST_BYTES >> 20} MiB of unfinished request messages; send fewer large requests at once`);
  }

  private onMessage(bytes: Buffer, compressed: boolean): void {
    if (this.done) return;
    let message: unknown;
    try {
      message = this.route.method.requestDeserialize(compressed ? this.decompress(bytes) : bytes);
    } catch (err) {
      if (err instanceof CallFailure) throw err;
      throw new CallFailure(STATUS.internal, `the request message does not parse: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (this.route.kind !== 'bidi_stream') {
      if (this.requests.length > 0) throw new CallFailure(STATUS.internal, 'more than one request message for a call that takes one');
      this.requests.push(message);
    } else this.invoke(() => this.streamCall?.emit('data', message));
  }

  private decompress(bytes: Buffer): Buffer {
    if (this.encoding === 'identity') throw new CallFailure(STATUS.internal, 'a compressed message on a call whose grpc-encoding is identity');
    try {
      const options = { maxOutputLength: MESSAGE_MAX_BYTES };
      return this.encoding === 'gzip' ? gunzipSync(bytes, options) : inflateSync(bytes, options);
    } catch (err) {
      if (err instanceof RangeError) throw new CallFailure(STATUS.resourceExhausted, `a request message over the ${MESSAGE_MAX_BYTES} bytes allowed once decompressed`);
      throw new CallFailure(STATUS.internal, `a ${this.encoding} message that does not decompress`);
    }
  }

  private dispatchUnary(request: unknown): void {
    const call = new UnaryCallHandle(request, this.metadata, () => this.done);
    const callback: UnaryCallback<unknown> = (error, value) => {
      if (!this.unaryRunning) return;
      this.unaryRunning = false;
      if (error !== null && error !== undefined && !this.done) this.failWith(error);
      else this.answer(value);
    };
    this.unaryRunning = true;
    this.invoke(() => (this.route.handler as (call: UnaryCall<unknown>, callback: UnaryCallback<unknown>) => void)(call, callback));
  }

  private dispatchStream(request: unknown): void {
    const call = new StreamCall<unknown>(request, this.metadata, {
      write: (message) => this.send(message),
      finish: (error) => (error === null ? this.succeed() : this.failWith(error)),
    });
    this.streamCall = call;
    this.invoke(() => (this.route.handler as (call: StreamCall<unknown>) => void)(call));
  }

  /** Runs handler code (the handler, or a stream's listeners): what it throws ends this call, never the connection. */
  private invoke(run: () => void): void {
    try {
      run();
    } catch (err) {
      this.log.error({ err, path: this.route.method.path }, 'a gRPC handler threw');
      this.fail(STATUS.internal, `the server failed on ${this.route.method.path}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /** A unary call's one answer: headers, message and trailers in the same turn, so in one write. */
  private answer(value: unknown): void {
    if (this.done) {
      // Cancelled or timed out before the handler answered: only now does the stream stop counting.
      this.stream.reset(H2_ERROR.cancel);
      return;
    }
    if (this.sendMessage(value) !== 'failed') this.succeed();
  }

  /** A streaming call's message: false when the client is slow to read (the call emits 'drain' later). */
  private send(message: unknown): boolean {
    if (this.done) return false;
    return this.sendMessage(message) === 'room';
  }

  /** Serializes and sends one message; 'failed' (and the call ended) if it cannot be serialized or is too large. */
  private sendMessage(value: unknown): 'room' | 'full' | 'failed' {
    let bytes: Buffer;
    try {
      bytes = this.route.method.responseSerialize(value);
    } catch (err) {
      this.fail(STATUS.internal, `the server's answer does not serialize: ${err instanceof Error ? err.message : String(err)}`);
      return 'failed';
    }
    if (bytes.length > MESSAGE_MAX_BYTES) {
      this.fail(STATUS.resourceExhausted, `an answer of ${bytes.length} bytes, over the ${MESSAGE_MAX_BYTES} a client takes`);
      return 'failed';
    }
    this.record?.message(value);
    if (!this.stream.headersSent) this.stream.sendHeaders(RESPONSE_HEADERS);
    const framed = Buffer.allocUnsafe(PREFIX_BYTES + bytes.length);
    messagePrefix(bytes.length).copy(framed, 0);
    bytes.copy(framed, PREFIX_BYTES);
    return this.stream.sendData(framed) ? 'room' : 'full';
  }

  private succeed(): void {
    if (this.done) return;
    this.end(STATUS.ok, this.stream.headersSent ? OK_TRAILERS : statusBlock(STATUS.ok, '', true));
  }

  private failWith(error: CallError): void {
    const code = typeof error.code === 'number' && Number.isInteger(error.code) && error.code > 0 && error.code <= 16 ? error.code : STATUS.unknown;
    this.fail(code, error.details ?? error.message ?? '');
  }

  fail(code: number, details: string): void {
    if (this.done) return;
    this.end(code, statusBlock(code, details, !this.stream.headersSent));
  }

  private end(code: number, block: Buffer): void {
    this.done = true;
    this.stream.hold(-this.held);
    this.held = 0;
    clearTimeout(this.timer);
    this.record?.status(code);
    this.stream.end(block);
    this.whenOver();
    // A streaming handler still running learns the call is over.
    if (code !== STATUS.ok) this.streamCall?.cancel();
  }

  /** The client reset the stream or went away. */
  private cancel(): void {
    const wasDone = this.done;
    this.done = true;
    this.stream.hold(-this.held);
    this.held = 0;
    clearTimeout(this.timer);
    if (!wasDone) {
      this.record?.status(STATUS.cancelled);
      this.whenOver();
    }
    this.streamCall?.cancel();
    // A unary handler running answers in time, and the stream counts until it has; with none
    // running yet, or a streaming one, which may never end (a health watch), it stops counting now.
    if (!this.unaryRunning) this.stream.reset(H2_ERROR.cancel);
  }
}

/** A call ends with this status (thrown from inside message handling). */
class CallFailure extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}
