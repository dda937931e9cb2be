import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { defined } from '../util/assert.js';
import { H2Endpoint, MAX_HEADER_BYTES, widenedWindow } from '../net/h2/endpoint.js';
import { FLAG, FRAME, H2_ERROR, H2ConnectionError as ConnectionError, MAX_STREAM_ID, PREFACE, SETTING, unpadded } from '../net/h2/frames.js';
import type { HeaderField } from '../net/h2/hpack.js';

export { H2_ERROR } from '../net/h2/frames.js';

/**
 * The client side of one HTTP/2 connection (RFC 9113), written over a plain or TLS socket for
 * the lean gRPC channel: requests out, each reply's header blocks and data handed to the caller
 * as they come.
 *
 * Why not node:http2: per request it builds a Duplex stream, an AsyncResource with a bound
 * callback (and, on Node 20, two deprecation wrappers for that binding), and a native stream
 * handle whose JavaScript wrapper a scavenge cannot free, so every call's objects reach the old
 * generation: about 5 KB a call, scavenges of 10-16 ms in the visibility probe at 250 writes/s
 * and a mark-compact to empty them (docs/bench.md). A client that makes thousands of calls a
 * second on two cores shared with the system it measures cannot afford that; the framing a unary
 * or server-streaming gRPC call needs is small.
 *
 * What it does not do: server push (refused in its settings), priorities (ignored), request
 * bodies larger than flow control lets out at once are queued, not streamed by the caller.
 */

/**
 * How far ahead a server may send, per stream and on the connection. Replies are bounded by the
 * caller as they arrive (the channel's per-call limit), not by flow control: a small window would
 * only add WINDOW_UPDATE round trips to large replies.
 */
const RECEIVE_WINDOW = 2 ** 30;
/** Streams opened before the server's SETTINGS arrive (RFC 9113 §6.5.2 recommends servers allow at least 100). */
const STREAMS_BEFORE_SETTINGS = 100;
/** A stream the server refused unprocessed (over its stream limit, as it first said it) is sent again this often at most. */
const MAX_REFUSALS = 3;
/** Calls waiting for the server to allow more concurrent streams: past this the call fails at once. */
const MAX_WAITING_CALLS = 10_000;

export type HeaderRecord = Record<string, string | string[]>;

/** What happens to one request. Called on the connection's turn; none of them may throw. */
export interface StreamEvents {
  /** A header block: the reply's headers, or, after them, its trailers. */
  onHeaders(headers: HeaderRecord, endStream: boolean): void;
  onData(chunk: Buffer, endStream: boolean): void;
  /** The stream ended without a last frame: the server reset it (its error code), or the connection went. */
  onClose(why: { readonly reset: number } | { readonly gone: Error }): void;
}

export interface H2Call {
  /** Stops the call: a stream already open is reset (CANCEL); no event follows. */
  cancel(): void;
}

export interface H2ConnectionOptions {
  readonly host: string;
  readonly port: number;
  /** Talk TLS (ALPN "h2"), trusting servers whose certificate this CA (PEM) signed. */
  readonly tlsCa?: Buffer;
  /** The TLS server name; '' sends none (an address), and the certificate is checked against the host. */
  readonly servername?: string;
}

interface Stream {
  readonly id: number;
  readonly request: Waiting;
  readonly events: StreamEvents;
  sendWindow: number;
  receiveWindow: number;
  /** Request body not yet sent (flow control); `undefined` once the last DATA frame is out. */
  unsent: Buffer | undefined;
  responded: boolean;
}

interface Waiting {
  readonly block: Buffer;
  readonly body: Buffer;
  readonly events: StreamEvents;
  started: Stream | undefined;
  /** Times a server refused the stream unprocessed (REFUSED_STREAM) and it was sent again. */
  refusals: number;
}

export class H2Connection extends H2Endpoint {
  private readonly socket: Socket | TLSSocket;
  private readonly streams = new Map<number, Stream>();
  private readonly waiting: Waiting[] = [];
  /** Streams with body bytes held back by flow control, in the order they asked. */
  private readonly blocked = new Set<Stream>();
  private nextStreamId = 1;
  private state: 'connecting' | 'open' | 'closing' | 'gone' = 'connecting';
  private failure: Error | undefined;
  private peerMaxStreams = Infinity;

  constructor(options: H2ConnectionOptions) {
    const tls = options.tlsCa !== undefined;
    const socket = tls
      ? tlsConnect({ host: options.host, port: options.port, ca: options.tlsCa, servername: options.servername ?? options.host, ALPNProtocols: ['h2'] })
      : netConnect({ host: options.host, port: options.port });
    super(socket, 'server', RECEIVE_WINDOW, ' (is this a TLS port? then give the CA)');
    this.socket = socket;
    this.socket.setNoDelay(true);
    this.socket.once(tls ? 'secureConnect' : 'connect', () => {
      if (tls && (this.socket as TLSSocket).alpnProtocol !== 'h2') {
        this.fail(new Error(`the server at ${options.host}:${options.port} did not agree to HTTP/2 over TLS (ALPN); is it a gRPC port?`));
        return;
      }
      this.start();
    });
    this.socket.on('data', (chunk: Buffer) => this.onBytes(chunk));
    this.socket.on('error', (err: Error) => this.fail(err));
    this.socket.on('close', () => this.fail(new Error('the connection closed')));
  }

  /**
   * Sends a request: `block` its header block, made by encodeHeaderBlock (which keeps no state, so
   * a caller may reuse one block for many requests), `body` its data.
   */
  request(block: Buffer, body: Buffer, events: StreamEvents): H2Call {
    const waiting: Waiting = { block, body, events, started: undefined, refusals: 0 };
    const call: H2Call = { cancel: () => this.cancel(waiting) };
    if (this.state === 'gone' || this.state === 'closing') {
      events.onClose({ gone: this.failure ?? new Error('the connection is closing') });
      return call;
    }
    if (this.waiting.length >= MAX_WAITING_CALLS) {
      events.onClose({ gone: new Error(`${MAX_WAITING_CALLS} calls already wait for the server to take more streams (it allows ${this.peerMaxStreams} at once)`) });
      return call;
    }
    this.waiting.push(waiting);
    if (this.state === 'open') this.startWaiting();
    return call;
  }

  /** Lets the calls in progress finish, then closes; new calls fail. */
  close(): void {
    if (this.state === 'gone') return;
    if (this.state === 'connecting') {
      this.fail(new Error('the client was closed'));
      return;
    }
    this.state = 'closing';
    this.endIfIdle();
  }

  private start(): void {
    if (this.state !== 'connecting') return;
    this.state = 'open';
    this.out.write(PREFACE);
    // No server push, a large window per stream, and a bound on the header lists sent to us.
    this.sendSettings([
      [SETTING.enablePush, 0],
      [SETTING.initialWindowSize, RECEIVE_WINDOW],
      [SETTING.maxHeaderListSize, MAX_HEADER_BYTES],
    ]);
    this.startWaiting();
  }

  private startWaiting(): void {
    // Until the server's SETTINGS say how many streams it takes, no more than the least RFC 9113 recommends.
    const limit = this.settingsSeen ? this.peerMaxStreams : Math.min(this.peerMaxStreams, STREAMS_BEFORE_SETTINGS);
    while (this.state === 'open' && this.waiting.length > 0 && this.streams.size < limit) {
      const next = defined(this.waiting.shift(), 'a waiting call');
      if (this.nextStreamId > MAX_STREAM_ID) {
        // Stream ids are never reused: a connection that used them all takes no more calls.
        this.failure = new Error('the connection has used all its stream ids; make a new client');
        this.state = 'closing';
        next.events.onClose({ gone: this.failure });
        this.failWaiting(this.failure);
        this.endIfIdle();
        return;
      }
      const stream: Stream = { id: this.nextStreamId, request: next, events: next.events, sendWindow: this.peerInitialWindow, receiveWindow: RECEIVE_WINDOW, unsent: next.body, responded: false };
      this.nextStreamId += 2;
      next.started = stream;
      this.streams.set(stream.id, stream);
      this.out.headers(stream.id, next.block);
      this.sendBody(stream);
    }
  }

  private cancel(waiting: Waiting): void {
    const stream = waiting.started;
    if (stream === undefined) {
      // Out of the queue at once, so calls given up on (their deadline passed) do not fill its bound.
      const at = this.waiting.indexOf(waiting);
      if (at >= 0) this.waiting.splice(at, 1);
      return;
    }
    if (this.streams.get(stream.id) !== stream) return;
    this.closeStream(stream);
    if (this.state !== 'gone') this.out.rstStream(stream.id, H2_ERROR.cancel);
  }

  private closeStream(stream: Stream): void {
    this.streams.delete(stream.id);
    this.blocked.delete(stream);
    this.startWaiting();
    this.endIfIdle();
  }

  private endIfIdle(): void {
    if (this.state === 'closing' && this.streams.size === 0) {
      this.failWaiting(this.failure ?? new Error('the connection is closing'));
      this.state = 'gone';
      this.failure ??= new Error('the connection was closed');
      this.socket.end();
    }
  }

  private failWaiting(reason: Error): void {
    for (const w of this.waiting.splice(0)) w.events.onClose({ gone: reason });
  }

  /** The connection is over: every call not finished ends with `reason`. */
  private fail(reason: Error): void {
    if (this.state === 'gone' && this.streams.size === 0 && this.waiting.length === 0) {
      this.socket.destroy();
      return;
    }
    this.failure ??= reason;
    this.state = 'gone';
    const open = [...this.streams.values()];
    this.streams.clear();
    this.blocked.clear();
    for (const stream of open) stream.events.onClose({ gone: this.failure });
    this.failWaiting(this.failure);
    this.socket.destroy();
  }

  /** A protocol error of the server's: tell it (GOAWAY) and end the connection. */
  protected connectionError(err: ConnectionError): void {
    if (this.state !== 'gone') {
      this.out.goaway(0, err.code);
      this.socket.end();
    }
    this.fail(new Error(`the server broke HTTP/2: ${err.message}`));
  }

  // --- Writing -----------------------------------------------------------------------------

  /** Sends what flow control lets out of a stream's body; the rest waits for a WINDOW_UPDATE. */
  private sendBody(stream: Stream): void {
    while (stream.unsent !== undefined) {
      const unsent = stream.unsent;
      // An empty last frame needs no window; a window a SETTINGS change made negative lets nothing out.
      const n = Math.max(0, Math.min(unsent.length, this.sendWindow, stream.sendWindow, this.out.peerMaxFrame));
      if (n === 0 && unsent.length > 0) {
        this.blocked.add(stream);
        return;
      }
      const last = n === unsent.length;
      this.out.frame(FRAME.data, last ? FLAG.endStream : 0, stream.id, unsent.subarray(0, n));
      this.sendWindow -= n;
      stream.sendWindow -= n;
      stream.unsent = last ? undefined : unsent.subarray(n);
    }
    this.blocked.delete(stream);
  }

  protected flushBlocked(): void {
    for (const stream of [...this.blocked]) {
      this.sendBody(stream);
      if (this.sendWindow <= 0) break;
    }
    // New SETTINGS may allow more streams at once.
    this.startWaiting();
  }

  // --- Reading -----------------------------------------------------------------------------

  private onBytes(chunk: Buffer): void {
    if (this.state === 'gone') return;
    this.readFrames(chunk);
  }

  protected isGone(): boolean {
    return this.state === 'gone';
  }

  /** The stream a server frame names: open, `undefined` if already closed here, or an error if it never was. */
  private streamOf(streamId: number, what: string): Stream | undefined {
    if (streamId === 0) throw new ConnectionError(H2_ERROR.protocol, `${what} on stream 0`);
    const stream = this.streams.get(streamId);
    if (stream !== undefined) return stream;
    if (streamId % 2 === 0 || streamId >= this.nextStreamId) throw new ConnectionError(H2_ERROR.protocol, `${what} on stream ${streamId}, which this client never opened`);
    return undefined;
  }

  protected onDataFrame(flags: number, streamId: number, payload: Buffer): void {
    const stream = this.streamOf(streamId, 'DATA');
    if (stream === undefined) return;
    if (!stream.responded) throw new ConnectionError(H2_ERROR.protocol, `DATA before HEADERS on stream ${streamId}`);
    const end = (flags & FLAG.endStream) !== 0;
    this.takeStreamWindow(stream, payload.length, !end);
    // Checked before the stream is closed: a malformed frame ends the connection, and with it every open call.
    const data = unpadded(flags, payload);
    if (end) this.closeStream(stream);
    stream.events.onData(data, end);
  }

  protected onHeaderBlock(streamId: number, endStream: boolean, fields: HeaderField[]): void {
    const stream = this.streamOf(streamId, 'HEADERS');
    if (stream === undefined) return;
    const headers: HeaderRecord = {};
    for (const [name, value] of fields) {
      const seen = headers[name];
      headers[name] = seen === undefined ? value : Array.isArray(seen) ? [...seen, value] : [seen, value];
    }
    // Informational replies (1xx) come before the real one and say nothing a call needs.
    if (!stream.responded && typeof headers[':status'] === 'string' && headers[':status'].startsWith('1') && !endStream) return;
    stream.responded = true;
    if (endStream) this.closeStream(stream);
    stream.events.onHeaders(headers, endStream);
  }

  protected onResetStream(streamId: number, code: number): void {
    const stream = this.streamOf(streamId, 'RST_STREAM');
    if (stream === undefined) return;
    const request = stream.request;
    // Refused before any processing (RFC 9113 §8.7): safe to send again, once the server's limit is known.
    if (code === H2_ERROR.refusedStream && !stream.responded && request.refusals < MAX_REFUSALS && this.state === 'open') {
      request.refusals++;
      request.started = undefined;
      this.waiting.unshift(request);
      this.closeStream(stream);
      return;
    }
    this.closeStream(stream);
    stream.events.onClose({ reset: code });
  }

  protected onSetting(id: number, value: number): void {
    if (id === SETTING.maxConcurrentStreams) this.peerMaxStreams = value;
    // The header table size matters only to an encoder that indexes (ours never does); the rest are hints.
  }

  protected onInitialWindowDelta(delta: number): void {
    for (const stream of this.streams.values()) stream.sendWindow += delta;
  }

  protected onGoaway(last: number, code: number): void {
    const reason = new Error(`the server is going away (GOAWAY, HTTP/2 code ${code}) and did not take the call`);
    this.failure ??= reason;
    if (this.state === 'open' || this.state === 'connecting') this.state = 'closing';
    for (const stream of [...this.streams.values()]) {
      if (stream.id <= last) continue;
      this.streams.delete(stream.id);
      this.blocked.delete(stream);
      stream.events.onClose({ gone: reason });
    }
    this.failWaiting(reason);
    this.endIfIdle();
  }

  protected onStreamWindowUpdate(streamId: number, increment: number): void {
    const stream = this.streamOf(streamId, 'WINDOW_UPDATE');
    if (stream === undefined || increment === 0) return;
    stream.sendWindow = widenedWindow(stream.sendWindow, increment, streamId);
    if (this.blocked.has(stream)) this.sendBody(stream);
  }
}
