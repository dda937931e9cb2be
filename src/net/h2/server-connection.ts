import type { Socket } from 'node:net';
import { defined } from '../../util/assert.js';
import { H2Endpoint, MAX_HEADER_BYTES, widenedWindow } from './endpoint.js';
import { FLAG, FRAME, H2_ERROR, H2ConnectionError, PREFACE, SETTING, unpadded } from './frames.js';
import type { HeaderField } from './hpack.js';

export { MAX_HEADER_BYTES } from './endpoint.js';

/**
 * The server side of one HTTP/2 connection (RFC 9113) over a plain or TLS socket, written for the
 * portals' gRPC server (src/net/grpc/server.ts).
 *
 * Why not node:http2 (and so grpc-js): a gRPC unary answer is a HEADERS frame, a DATA frame and a
 * trailing HEADERS frame, and node:http2 sends the trailers only from its `wantTrailers` event, a
 * turn of the event loop after the data, in a second system call; per request it also builds a
 * Duplex stream, an AsyncResource and a native handle whose wrapper a scavenge cannot free. Behind
 * grpc-js a portal spent 780–970 µs of CPU on a cold call and answered in 0.9–1.1 ms at p50 where a
 * server writing the three frames at once took 210–240 µs and 0.3–0.4 ms (docs/bench-report.md,
 * "What a gRPC server of ecom's own could buy"). Every write to a portal is two such calls in a
 * row on the way to being visible everywhere.
 *
 * What it does not do: server push (never sent), priorities (ignored), request trailers (refused:
 * gRPC clients send none). Every stream counts against SETTINGS_MAX_CONCURRENT_STREAMS until its
 * handler has finished it, reset or not, so a client resetting streams as fast as it opens them
 * cannot pile up work behind the limit.
 */

/** Streams one connection may have open or still being answered at once; more are refused (REFUSED_STREAM), which clients retry. */
export const MAX_STREAMS_PER_CONNECTION = 2_048;
/**
 * Bytes of request messages the application holds unfinished across a connection's streams (each
 * message is bounded by itself; 2,048 streams of them would not be): past it, calls are refused.
 */
export const MAX_HELD_REQUEST_BYTES = 64 << 20;
/** How far ahead a client may send on one stream and on the connection; the application bounds request sizes itself. */
const RECEIVE_WINDOW = 1 << 20;
/** Bytes a stream may hold queued for flow control before `sendData` says to wait. */
const SEND_QUEUE_HIGH_WATER = 64 << 10;

export type HeaderRecord = Record<string, string | string[]>;

/** What happens to a stream after its request headers. Called on the connection's turn; none may throw. */
export interface ServerStreamEvents {
  /** Request body bytes; `end` once the client has sent all. */
  onData(chunk: Buffer, end: boolean): void;
  /** The client reset the stream or the connection went: nothing sent from now on reaches it. */
  onCancel(): void;
  /** Everything queued has left and more may be sent. */
  onDrain(): void;
}

/** The body of a request that ended with its headers: one shared empty buffer, not one per call. */
const NO_DATA = Buffer.alloc(0);

const NO_EVENTS: ServerStreamEvents = { onData: () => undefined, onCancel: () => undefined, onDrain: () => undefined };

export class ServerStream {
  events: ServerStreamEvents = NO_EVENTS;
  /** The client has sent END_STREAM. */
  remoteEnded = false;
  /** The client reset the stream, or the connection went. */
  cancelled = false;
  /** The handler has sent its last frame (or given up): the stream no longer counts. */
  finished = false;
  sendWindow: number;
  receiveWindow = RECEIVE_WINDOW;
  /** DATA waiting for flow control; then the trailers, if the handler has sent them. */
  readonly queued: Buffer[] = [];
  queuedBytes = 0;
  trailers: Buffer | undefined;
  headersSent = false;
  /** sendData said to wait: onDrain is owed once the queue is below its mark again. */
  drainOwed = false;

  constructor(
    readonly id: number,
    readonly headers: HeaderRecord,
    private readonly connection: H2ServerConnection,
    sendWindow: number,
  ) {
    this.sendWindow = sendWindow;
  }

  /** The response's header block (from encodeHeaderBlock). */
  sendHeaders(block: Buffer): void {
    if (this.cancelled || this.finished || this.headersSent) return;
    this.headersSent = true;
    this.connection.writeHeaders(this, block);
  }

  /** Response body bytes, as flow control lets them out; false once the queue is past its mark (wait for onDrain). */
  sendData(bytes: Buffer): boolean {
    if (this.cancelled || this.finished) return false;
    this.queued.push(bytes);
    this.queuedBytes += bytes.length;
    this.connection.flush(this);
    if (this.queuedBytes < SEND_QUEUE_HIGH_WATER && !this.connection.socketFull()) return true;
    this.drainOwed = true;
    this.connection.owesDrain(this);
    return false;
  }

  /** The trailers (or, with no headers sent, the whole trailers-only response): the stream's last frame. */
  end(block: Buffer): void {
    if (this.finished) return;
    if (this.cancelled) {
      this.connection.finish(this, undefined);
      return;
    }
    this.trailers = block;
    this.connection.flush(this);
  }

  /** Adds `delta` bytes to what the application holds of this connection's requests; true once over MAX_HELD_REQUEST_BYTES. */
  hold(delta: number): boolean {
    return this.connection.hold(delta);
  }

  /** Gives the stream up: a reset to the client if it still listens. */
  reset(code: number): void {
    if (this.finished) return;
    this.connection.finish(this, code);
  }
}

export interface ServerConnectionOptions {
  /** A new stream's request headers have arrived: the handler sets `stream.events` before returning. */
  readonly onStream: (stream: ServerStream) => void;
  /** The connection broke the protocol or failed; for the server's log. */
  readonly onError: (err: Error) => void;
}

export class H2ServerConnection extends H2Endpoint {
  private readonly streams = new Map<number, ServerStream>();
  private readonly blocked = new Set<ServerStream>();
  /** Streams told to wait (sendData returned false) until their queue and the socket's buffer empty. */
  private readonly waitingForDrain = new Set<ServerStream>();
  private state: 'preface' | 'open' | 'draining' | 'gone' = 'preface';
  private prefaceBytes: Buffer | undefined;
  private lastStreamId = 0;

  constructor(
    private readonly socket: Socket,
    private readonly options: ServerConnectionOptions,
  ) {
    super(socket, 'client', RECEIVE_WINDOW, ' (is this client speaking TLS to a plain port?)');
    socket.setNoDelay(true);
    this.sendSettings([
      [SETTING.maxConcurrentStreams, MAX_STREAMS_PER_CONNECTION],
      [SETTING.initialWindowSize, RECEIVE_WINDOW],
      [SETTING.maxHeaderListSize, MAX_HEADER_BYTES],
    ]);
    socket.on('data', (chunk: Buffer) => this.onBytes(chunk));
    // After the turn's I/O (setImmediate), not in the tick after the write: a handler writing as
    // fast as the socket empties would otherwise never let a cancel from the client be read.
    socket.on('drain', () =>
      setImmediate(() => {
        for (const stream of [...this.waitingForDrain]) this.flush(stream);
      }),
    );
    socket.on('error', (err: Error) => this.gone(err));
    socket.on('close', () => this.gone(undefined));
  }

  private heldRequestBytes = 0;

  hold(delta: number): boolean {
    this.heldRequestBytes += delta;
    return this.heldRequestBytes > MAX_HELD_REQUEST_BYTES;
  }

  /** Takes no new streams (GOAWAY), lets those open finish, then closes. */
  drain(): void {
    if (this.state === 'gone' || this.state === 'draining') return;
    this.state = 'draining';
    this.out.goaway(this.lastStreamId, H2_ERROR.noError);
    this.endIfIdle();
  }

  // --- Called by streams ---------------------------------------------------------------------

  /**
   * The socket holds more than its high-water mark unsent (the client reads slower than the
   * handler writes): a streaming handler is asked to wait, as a Node stream would ask it, so
   * that it yields and a cancel from the client can be read.
   */
  socketFull(): boolean {
    return this.socket.writableNeedDrain;
  }

  owesDrain(stream: ServerStream): void {
    this.waitingForDrain.add(stream);
  }

  writeHeaders(stream: ServerStream, block: Buffer): void {
    this.out.headers(stream.id, block);
  }

  /** Sends what flow control lets out of a stream's queue, then its trailers once nothing is left. */
  flush(stream: ServerStream): void {
    if (this.state === 'gone' || stream.finished || stream.cancelled) return;
    while (stream.queued.length > 0) {
      const head = defined(stream.queued[0], 'a queued chunk');
      const n = Math.max(0, Math.min(head.length, this.sendWindow, stream.sendWindow, this.out.peerMaxFrame));
      if (n === 0 && head.length > 0) {
        this.blocked.add(stream);
        return;
      }
      this.out.frame(FRAME.data, 0, stream.id, n === head.length ? head : head.subarray(0, n));
      this.sendWindow -= n;
      stream.sendWindow -= n;
      stream.queuedBytes -= n;
      if (n === head.length) stream.queued.shift();
      else stream.queued[0] = head.subarray(n);
    }
    this.blocked.delete(stream);
    if (stream.trailers !== undefined) {
      this.out.headers(stream.id, stream.trailers, true);
      // The answer is whole; a client still sending is told to stop (RFC 9113 §8.1).
      this.finish(stream, stream.remoteEnded ? undefined : H2_ERROR.noError);
      return;
    }
    if (stream.drainOwed && stream.queuedBytes < SEND_QUEUE_HIGH_WATER && !this.socketFull()) {
      stream.drainOwed = false;
      this.waitingForDrain.delete(stream);
      stream.events.onDrain();
    }
  }

  /** The stream is done with: reset with `code` unless undefined, forgotten, and no longer counted. */
  finish(stream: ServerStream, code: number | undefined): void {
    if (stream.finished) return;
    stream.finished = true;
    if (code !== undefined && !stream.cancelled && this.state !== 'gone') this.out.rstStream(stream.id, code);
    this.streams.delete(stream.id);
    this.blocked.delete(stream);
    this.waitingForDrain.delete(stream);
    this.endIfIdle();
  }

  // --- Reading -------------------------------------------------------------------------------

  private onBytes(chunk: Buffer): void {
    if (this.state === 'gone') return;
    if (this.state === 'preface') {
      let rest: Buffer | undefined;
      try {
        rest = this.takePreface(chunk);
      } catch (err) {
        if (err instanceof H2ConnectionError) return this.connectionError(err);
        throw err;
      }
      if (rest === undefined) return;
      chunk = rest;
    }
    this.readFrames(chunk);
  }

  /** The client's 24-byte preface (RFC 9113 §3.4); what follows it, or undefined while it is incomplete. */
  private takePreface(chunk: Buffer): Buffer | undefined {
    const seen = this.prefaceBytes === undefined ? chunk : Buffer.concat([this.prefaceBytes, chunk]);
    const n = Math.min(seen.length, PREFACE.length);
    if (!seen.subarray(0, n).equals(PREFACE.subarray(0, n))) throw new H2ConnectionError(H2_ERROR.protocol, 'the connection did not begin with the HTTP/2 preface: not an HTTP/2 client (an HTTP/1 request, or TLS to a plain port?)');
    if (seen.length < PREFACE.length) {
      this.prefaceBytes = seen;
      return undefined;
    }
    this.prefaceBytes = undefined;
    this.state = 'open';
    return seen.subarray(PREFACE.length);
  }

  protected isGone(): boolean {
    return this.state === 'gone';
  }

  /** The stream a client frame names: open, `undefined` if already closed, or an error if it never was. */
  private streamOf(streamId: number, what: string): ServerStream | undefined {
    if (streamId === 0) throw new H2ConnectionError(H2_ERROR.protocol, `${what} on stream 0`);
    const stream = this.streams.get(streamId);
    if (stream !== undefined) return stream;
    if (streamId > this.lastStreamId) throw new H2ConnectionError(H2_ERROR.protocol, `${what} on stream ${streamId}, which the client never opened`);
    return undefined;
  }

  protected onDataFrame(flags: number, streamId: number, payload: Buffer): void {
    const stream = this.streamOf(streamId, 'DATA');
    const data = unpadded(flags, payload);
    if (stream === undefined || stream.remoteEnded) {
      if (stream !== undefined) this.cancel(stream, H2_ERROR.streamClosed);
      return;
    }
    const end = (flags & FLAG.endStream) !== 0;
    this.takeStreamWindow(stream, payload.length, !end);
    if (end) stream.remoteEnded = true;
    if (!stream.cancelled) stream.events.onData(data, end);
  }

  protected onHeaderBlock(streamId: number, endStream: boolean, fields: HeaderField[]): void {
    if (streamId % 2 === 0) throw new H2ConnectionError(H2_ERROR.protocol, `a client opened stream ${streamId}, an even number`);
    if (streamId <= this.lastStreamId) {
      // Trailers on a request: gRPC clients send none. On a stream gone already, nothing to do.
      const stream = this.streams.get(streamId);
      if (stream !== undefined) this.cancel(stream, H2_ERROR.protocol);
      return;
    }
    this.lastStreamId = streamId;
    if (this.state === 'draining' || this.streams.size >= MAX_STREAMS_PER_CONNECTION) {
      this.out.rstStream(streamId, H2_ERROR.refusedStream);
      return;
    }
    const headers: HeaderRecord = {};
    for (const [name, value] of fields) {
      const seen = headers[name];
      headers[name] = seen === undefined ? value : Array.isArray(seen) ? [...seen, value] : [seen, value];
    }
    const stream = new ServerStream(streamId, headers, this, this.peerInitialWindow);
    stream.remoteEnded = endStream;
    this.streams.set(stream.id, stream);
    this.options.onStream(stream);
    if (endStream && !stream.cancelled && !stream.finished) stream.events.onData(NO_DATA, true);
  }

  protected onResetStream(streamId: number): void {
    const stream = this.streamOf(streamId, 'RST_STREAM');
    if (stream !== undefined) this.cancel(stream, undefined);
  }

  /**
   * The stream is over for the client (it reset it, or, with `code`, this side resets it for a
   * protocol error): nothing more is sent, and the handler is told, so that it finishes the
   * stream, which counts until then.
   */
  private cancel(stream: ServerStream, code: number | undefined): void {
    if (stream.cancelled || stream.finished) return;
    if (code !== undefined) this.out.rstStream(stream.id, code);
    stream.cancelled = true;
    this.blocked.delete(stream);
    this.waitingForDrain.delete(stream);
    stream.queued.length = 0;
    stream.queuedBytes = 0;
    stream.events.onCancel();
  }

  /** The client opens no more streams; those open are answered, then the connection ends. */
  protected onGoaway(): void {
    this.drain();
  }

  protected onSetting(): void {
    // The header table size matters only to an encoder that indexes (ours never does); the rest concern clients.
  }

  protected onInitialWindowDelta(delta: number): void {
    for (const stream of this.streams.values()) stream.sendWindow += delta;
  }

  protected onStreamWindowUpdate(streamId: number, increment: number): void {
    const stream = this.streamOf(streamId, 'WINDOW_UPDATE');
    if (stream === undefined || increment === 0) return;
    stream.sendWindow = widenedWindow(stream.sendWindow, increment, streamId);
    if (this.blocked.has(stream)) this.flush(stream);
  }

  protected flushBlocked(): void {
    for (const stream of [...this.blocked]) {
      this.flush(stream);
      if (this.sendWindow <= 0) return;
    }
  }

  // --- Ending --------------------------------------------------------------------------------

  private endIfIdle(): void {
    if (this.state === 'draining' && this.streams.size === 0) {
      this.state = 'gone';
      this.socket.end();
    }
  }

  /** A protocol error of the client's: tell it (GOAWAY with the reason) and end the connection. */
  protected connectionError(err: H2ConnectionError): void {
    if (this.state !== 'gone') {
      this.out.goaway(this.lastStreamId, err.code, err.message.slice(0, 200));
      this.socket.end();
    }
    this.options.onError(new Error(`a client broke HTTP/2: ${err.message}`));
    this.gone(undefined);
    // The socket is ended, not destroyed, so the GOAWAY leaves; a client that never closes its side is cut after a while.
    setTimeout(() => this.socket.destroy(), 1_000).unref();
  }

  /** The connection is over: every stream not finished is cancelled. */
  private gone(err: Error | undefined): void {
    if (err !== undefined && this.state !== 'gone') this.options.onError(err);
    this.state = 'gone';
    const open = [...this.streams.values()];
    this.streams.clear();
    this.blocked.clear();
    this.waitingForDrain.clear();
    for (const stream of open) {
      stream.finished = true;
      if (!stream.cancelled) {
        stream.cancelled = true;
        stream.events.onCancel();
      }
    }
  }
}
