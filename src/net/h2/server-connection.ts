import type { Socket } from 'node:net';
import { defined } from '../../util/assert.js';
import { DEFAULT_WINDOW, FLAG, forEachSetting, FRAME, FrameSplitter, FrameWriter, H2_ERROR, H2ConnectionError, PREFACE, SETTING, unpadded } from './frames.js';
import { HpackDecoder, HpackError } from './hpack.js';

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
/** A header block (encoded, CONTINUATIONs included) or header list (decoded) larger than this ends the connection. */
export const MAX_HEADER_BYTES = 64 << 10;
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
    this.connection.writeHeaders(this, block, false);
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

/** A header block arriving in pieces (HEADERS, then CONTINUATION frames). */
interface BlockInProgress {
  readonly streamId: number;
  readonly endStream: boolean;
  readonly fragments: Buffer[];
  bytes: number;
}

export class H2ServerConnection {
  private readonly decoder = new HpackDecoder(4096, MAX_HEADER_BYTES);
  private readonly frames = new FrameSplitter(' (is this client speaking TLS to a plain port?)');
  private readonly out: FrameWriter;
  private readonly streams = new Map<number, ServerStream>();
  private readonly blocked = new Set<ServerStream>();
  /** Streams told to wait (sendData returned false) until their queue and the socket's buffer empty. */
  private readonly waitingForDrain = new Set<ServerStream>();
  private state: 'preface' | 'settings' | 'open' | 'draining' | 'gone' = 'preface';
  private prefaceBytes: Buffer | undefined;
  private block: BlockInProgress | undefined;
  private lastStreamId = 0;
  private sendWindow = DEFAULT_WINDOW;
  private receiveWindow = DEFAULT_WINDOW;
  private peerInitialWindow = DEFAULT_WINDOW;

  constructor(
    private readonly socket: Socket,
    private readonly options: ServerConnectionOptions,
  ) {
    socket.setNoDelay(true);
    this.out = new FrameWriter(socket);
    const settings = Buffer.alloc(18);
    settings.writeUInt16BE(SETTING.maxConcurrentStreams, 0);
    settings.writeUInt32BE(MAX_STREAMS_PER_CONNECTION, 2);
    settings.writeUInt16BE(SETTING.initialWindowSize, 6);
    settings.writeUInt32BE(RECEIVE_WINDOW, 8);
    settings.writeUInt16BE(SETTING.maxHeaderListSize, 12);
    settings.writeUInt32BE(MAX_HEADER_BYTES, 14);
    this.out.frame(FRAME.settings, 0, 0, settings);
    this.out.windowUpdate(0, RECEIVE_WINDOW - DEFAULT_WINDOW);
    this.receiveWindow = RECEIVE_WINDOW;
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

  /** Streams open or being answered. */
  get activeStreams(): number {
    return this.streams.size;
  }

  /** Takes no new streams (GOAWAY), lets those open finish, then closes. */
  drain(): void {
    if (this.state === 'gone' || this.state === 'draining') return;
    this.state = 'draining';
    this.out.goaway(this.lastStreamId, H2_ERROR.noError);
    this.endIfIdle();
  }

  /** Ends the connection now: every open stream is cancelled. */
  destroy(): void {
    this.socket.destroy();
    this.gone(undefined);
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

  writeHeaders(stream: ServerStream, block: Buffer, endStream: boolean): void {
    this.out.headers(stream.id, block, endStream);
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
    try {
      if (this.state === 'preface') {
        const rest = this.takePreface(chunk);
        if (rest === undefined) return;
        chunk = rest;
      }
      this.frames.push(chunk, (type, flags, streamId, payload) => this.onFrame(type, flags, streamId, payload), () => this.state === 'gone');
    } catch (err) {
      if (err instanceof H2ConnectionError) return this.connectionError(err);
      if (err instanceof HpackError) return this.connectionError(new H2ConnectionError(H2_ERROR.compression, `a header block that does not decode: ${err.message}`));
      throw err;
    }
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
    this.state = 'settings';
    return seen.subarray(PREFACE.length);
  }

  private onFrame(type: number, flags: number, streamId: number, payload: Buffer): void {
    if (this.state === 'settings') {
      if (type !== FRAME.settings || (flags & FLAG.ack) !== 0) throw new H2ConnectionError(H2_ERROR.protocol, `the first frame after the preface is of type ${type}, not SETTINGS`);
      this.state = 'open';
    }
    if (this.block !== undefined && type !== FRAME.continuation) throw new H2ConnectionError(H2_ERROR.protocol, `a frame of type ${type} inside a header block`);
    switch (type) {
      case FRAME.data:
        return this.onData(flags, streamId, payload);
      case FRAME.headers:
        return this.onHeaders(flags, streamId, payload);
      case FRAME.continuation:
        return this.onContinuation(flags, streamId, payload);
      case FRAME.rstStream:
        return this.onRstStream(streamId, payload);
      case FRAME.settings:
        return this.onSettings(flags, streamId, payload);
      case FRAME.ping:
        if (streamId !== 0 || payload.length !== 8) throw new H2ConnectionError(H2_ERROR.protocol, 'a PING that is not 8 bytes on stream 0');
        if ((flags & FLAG.ack) === 0) this.out.frame(FRAME.ping, FLAG.ack, 0, Buffer.from(payload));
        return;
      case FRAME.goaway:
        if (streamId !== 0 || payload.length < 8) throw new H2ConnectionError(H2_ERROR.protocol, 'a malformed GOAWAY');
        // The client opens no more streams; those open are answered, then the connection ends.
        return this.drain();
      case FRAME.windowUpdate:
        return this.onWindowUpdate(streamId, payload);
      case FRAME.pushPromise:
        throw new H2ConnectionError(H2_ERROR.protocol, 'a PUSH_PROMISE from a client');
      case FRAME.priority:
        if (streamId === 0 || payload.length !== 5) throw new H2ConnectionError(H2_ERROR.protocol, 'a malformed PRIORITY frame');
        return;
      default:
        // Unknown frame types are ignored (RFC 9113 §4.1).
        return;
    }
  }

  /** The stream a client frame names: open, `undefined` if already closed, or an error if it never was. */
  private streamOf(streamId: number, what: string): ServerStream | undefined {
    if (streamId === 0) throw new H2ConnectionError(H2_ERROR.protocol, `${what} on stream 0`);
    const stream = this.streams.get(streamId);
    if (stream !== undefined) return stream;
    if (streamId > this.lastStreamId) throw new H2ConnectionError(H2_ERROR.protocol, `${what} on stream ${streamId}, which the client never opened`);
    return undefined;
  }

  private onData(flags: number, streamId: number, payload: Buffer): void {
    const stream = this.streamOf(streamId, 'DATA');
    // Flow control counts the whole frame, padding included, whether or not the stream is still wanted.
    this.receiveWindow -= payload.length;
    if (this.receiveWindow < 0) throw new H2ConnectionError(H2_ERROR.flowControl, 'more data than the connection window allows');
    if (this.receiveWindow < RECEIVE_WINDOW / 2) {
      this.out.windowUpdate(0, RECEIVE_WINDOW - this.receiveWindow);
      this.receiveWindow = RECEIVE_WINDOW;
    }
    const data = unpadded(flags, payload);
    if (stream === undefined || stream.remoteEnded) {
      if (stream !== undefined) this.cancel(stream, H2_ERROR.streamClosed);
      return;
    }
    stream.receiveWindow -= payload.length;
    if (stream.receiveWindow < 0) throw new H2ConnectionError(H2_ERROR.flowControl, `more data than stream ${streamId}'s window allows`);
    const end = (flags & FLAG.endStream) !== 0;
    if (!end && stream.receiveWindow < RECEIVE_WINDOW / 2) {
      this.out.windowUpdate(stream.id, RECEIVE_WINDOW - stream.receiveWindow);
      stream.receiveWindow = RECEIVE_WINDOW;
    }
    if (end) stream.remoteEnded = true;
    if (!stream.cancelled) stream.events.onData(data, end);
  }

  private onHeaders(flags: number, streamId: number, payload: Buffer): void {
    if (streamId === 0) throw new H2ConnectionError(H2_ERROR.protocol, 'HEADERS on stream 0');
    const fragment = unpadded(flags, payload, (flags & FLAG.priority) !== 0 ? 5 : 0);
    this.block = { streamId, endStream: (flags & FLAG.endStream) !== 0, fragments: [fragment], bytes: fragment.length };
    if (fragment.length > MAX_HEADER_BYTES) throw new H2ConnectionError(H2_ERROR.enhanceYourCalm, `a header block over ${MAX_HEADER_BYTES} bytes`);
    if ((flags & FLAG.endHeaders) !== 0) this.endBlock();
  }

  private onContinuation(flags: number, streamId: number, payload: Buffer): void {
    const block = this.block;
    if (block === undefined || block.streamId !== streamId) throw new H2ConnectionError(H2_ERROR.protocol, 'a CONTINUATION that continues no header block');
    block.fragments.push(payload);
    block.bytes += payload.length;
    if (block.bytes > MAX_HEADER_BYTES) throw new H2ConnectionError(H2_ERROR.enhanceYourCalm, `a header block over ${MAX_HEADER_BYTES} bytes`);
    if ((flags & FLAG.endHeaders) !== 0) this.endBlock();
  }

  private endBlock(): void {
    const block = defined(this.block, 'the header block being read');
    this.block = undefined;
    // Decoded whatever becomes of it: the decoder's table must follow the client's encoder.
    const fields = this.decoder.decode(block.fragments.length === 1 ? block.fragments[0]! : Buffer.concat(block.fragments));
    if (block.streamId % 2 === 0) throw new H2ConnectionError(H2_ERROR.protocol, `a client opened stream ${block.streamId}, an even number`);
    if (block.streamId <= this.lastStreamId) {
      // Trailers on a request: gRPC clients send none. On a stream gone already, nothing to do.
      const stream = this.streams.get(block.streamId);
      if (stream !== undefined) this.cancel(stream, H2_ERROR.protocol);
      return;
    }
    this.lastStreamId = block.streamId;
    if (this.state === 'draining') {
      this.out.rstStream(block.streamId, H2_ERROR.refusedStream);
      return;
    }
    if (this.streams.size >= MAX_STREAMS_PER_CONNECTION) {
      this.out.rstStream(block.streamId, H2_ERROR.refusedStream);
      return;
    }
    const headers: HeaderRecord = {};
    for (const [name, value] of fields) {
      const seen = headers[name];
      headers[name] = seen === undefined ? value : Array.isArray(seen) ? [...seen, value] : [seen, value];
    }
    const stream = new ServerStream(block.streamId, headers, this, this.peerInitialWindow);
    stream.remoteEnded = block.endStream;
    this.streams.set(stream.id, stream);
    this.options.onStream(stream);
    if (block.endStream && !stream.cancelled && !stream.finished) stream.events.onData(Buffer.alloc(0), true);
  }

  private onRstStream(streamId: number, payload: Buffer): void {
    if (payload.length !== 4) throw new H2ConnectionError(H2_ERROR.frameSize, 'an RST_STREAM that is not 4 bytes');
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

  private onSettings(flags: number, streamId: number, payload: Buffer): void {
    if (streamId !== 0) throw new H2ConnectionError(H2_ERROR.protocol, 'SETTINGS on a stream');
    if ((flags & FLAG.ack) !== 0) {
      if (payload.length !== 0) throw new H2ConnectionError(H2_ERROR.frameSize, 'a SETTINGS acknowledgement with a payload');
      return;
    }
    forEachSetting(payload, (id, value) => {
      if (id === SETTING.initialWindowSize) {
        const delta = value - this.peerInitialWindow;
        this.peerInitialWindow = value;
        for (const stream of this.streams.values()) stream.sendWindow += delta;
      } else if (id === SETTING.maxFrameSize) this.out.peerMaxFrame = value;
      // The header table size matters only to an encoder that indexes (ours never does); the rest concern clients.
    });
    this.out.frame(FRAME.settings, FLAG.ack, 0);
    this.flushBlocked();
  }

  private onWindowUpdate(streamId: number, payload: Buffer): void {
    if (payload.length !== 4) throw new H2ConnectionError(H2_ERROR.frameSize, 'a WINDOW_UPDATE that is not 4 bytes');
    const increment = payload.readUInt32BE(0) & 0x7fffffff;
    if (streamId === 0) {
      if (increment === 0) throw new H2ConnectionError(H2_ERROR.protocol, 'a WINDOW_UPDATE of 0');
      this.sendWindow += increment;
      if (this.sendWindow > 2 ** 31 - 1) throw new H2ConnectionError(H2_ERROR.flowControl, 'a connection window over 2^31-1');
      this.flushBlocked();
      return;
    }
    const stream = this.streamOf(streamId, 'WINDOW_UPDATE');
    if (stream === undefined || increment === 0) return;
    stream.sendWindow += increment;
    if (stream.sendWindow > 2 ** 31 - 1) throw new H2ConnectionError(H2_ERROR.flowControl, `stream ${streamId}'s window over 2^31-1`);
    if (this.blocked.has(stream)) this.flush(stream);
  }

  private flushBlocked(): void {
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
  private connectionError(err: H2ConnectionError): void {
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
