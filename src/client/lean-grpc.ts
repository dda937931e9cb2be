import http2 from 'node:http2';
import { isIP } from 'node:net';
import { DEFAULT_TIMEOUT_MS, PortalCallError, STATUS } from './portal-calls.js';

/** A reply message larger than this is refused, as grpc-js refuses one over its default receive limit. */
export const MESSAGE_MAX_BYTES = 4 << 20;
/** All the messages of one call (a client's orders) together: the call fails beyond it rather than fill memory. */
export const CALL_MAX_BYTES = 64 << 20;
/** gRPC's length-prefixed message: a compression flag byte and a 4-byte big-endian length. */
const PREFIX_BYTES = 5;

export interface LeanGrpcOptions {
  readonly host: string;
  readonly port: number;
  /** Per-call deadline. */
  readonly timeout_ms?: number;
  /** Talk TLS, trusting servers whose certificate this CA (PEM) signed. */
  readonly tlsCa?: Buffer;
  /** Sent as "authorization: Bearer <token>" with every call. */
  readonly token?: string;
}

/**
 * gRPC unary and server-streaming calls over one HTTP/2 connection, the framing written by hand:
 * a length-prefixed message out, the status from the trailers, each reply message cut from the
 * data and bounded. The server cannot tell it from grpc-js: the requests are the same bytes.
 * grpc-js's client costs several times the CPU per call (call stack capture, interceptors,
 * resolving and retrying layers), and two users cannot afford it: a one-shot command that must
 * start within a quarter of a second (loading grpc-js alone took 70 ms of it), and the bench's
 * load generator, whose CPU is taken from the system it measures on this 2-core machine.
 *
 * Failures reject with a PortalCallError carrying the gRPC status grpc-js would give: the
 * server's status and message; UNAVAILABLE (14) when no connection could be made or it
 * dropped, its cause (a TLS certificate not trusted, a refused connection) in the details;
 * DEADLINE_EXCEEDED (4) when no reply came in time.
 */
export class LeanGrpcChannel {
  readonly address: string;
  private readonly session: http2.ClientHttp2Session;
  /** Settles when the connection (and its TLS handshake) is made, or has failed. */
  private readonly connected: Promise<void>;
  private readonly timeout_ms: number;
  private failure: Error | undefined;
  private isConnected = false;

  constructor(readonly options: LeanGrpcOptions) {
    this.address = `${options.host}:${options.port}`;
    this.timeout_ms = options.timeout_ms ?? DEFAULT_TIMEOUT_MS;
    const tls = options.tlsCa !== undefined;
    // No server name (SNI) for an address: TLS forbids it, and Node warns on stderr; the certificate is still checked against the address.
    const tlsOptions = { ca: options.tlsCa, servername: isIP(options.host) === 0 ? options.host : '' };
    const authority = isIP(options.host) === 6 ? `[${options.host}]:${options.port}` : this.address;
    this.session = http2.connect(`${tls ? 'https' : 'http'}://${authority}`, tls ? tlsOptions : {});
    this.connected = new Promise<void>((resolve, reject) => {
      this.session.once('connect', () => {
        this.isConnected = true;
        resolve();
      });
      this.session.once('close', () => reject(this.failure ?? new Error('the connection closed')));
    });
    // Each call reports a failed connection itself; this only keeps it from being unhandled meanwhile.
    this.connected.catch(() => undefined);
    this.session.on('error', (err: Error) => {
      this.failure = err;
    });
  }

  close(): void {
    this.session.close();
  }

  /** One call: a request message's bytes sent to `path`, every reply message's bytes once the status says it went well. */
  call(path: string, body: Buffer): Promise<Buffer[]> {
    const frame = Buffer.allocUnsafe(PREFIX_BYTES + body.length);
    frame[0] = 0;
    frame.writeUInt32BE(body.length, 1);
    body.copy(frame, PREFIX_BYTES);
    const headers = {
      ':method': 'POST',
      ':path': path,
      'content-type': 'application/grpc',
      te: 'trailers',
      // No grpc-timeout: the deadline is kept here, and a server given one arms a timer per
      // call, which the bench's figures would pay for (docs/bench.md).
      ...(this.options.token !== undefined ? { authorization: `Bearer ${this.options.token}` } : {}),
    };

    return new Promise<Buffer[]>((resolve, reject) => {
      let stream: http2.ClientHttp2Stream | undefined;
      let settled = false;
      const settle = (outcome: () => Buffer[]) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        try {
          resolve(outcome());
        } catch (err) {
          if (stream !== undefined && !stream.closed) stream.close(http2.constants.NGHTTP2_CANCEL);
          reject(err instanceof Error ? err : new Error(String(err)));
        }
      };
      const fail = (code: number, details: string) =>
        settle(() => {
          throw new PortalCallError(code, details);
        });
      const timer = setTimeout(() => fail(STATUS.deadlineExceeded, `${path} to ${this.address}: no reply within ${this.timeout_ms} ms`), this.timeout_ms);

      const send = () => {
        if (settled) return;
        try {
          stream = this.session.request(headers);
        } catch (err) {
          // A connection that was made and has gone (or is going) since takes no more calls.
          fail(STATUS.unavailable, `${path} to ${this.address}: the connection is gone (${(this.failure ?? (err as Error)).message})`);
          return;
        }
        const reply = new ReplyReader(path, this.address);
        stream.on('response', (headers) => reply.headers(headers));
        stream.on('trailers', (trailers: http2.IncomingHttpHeaders) => reply.trailers(trailers));
        stream.on('data', (chunk: Buffer) => {
          try {
            reply.data(chunk);
          } catch (err) {
            settle(() => {
              throw err;
            });
          }
        });
        stream.on('end', () => settle(() => reply.messages()));
        // A connection that goes away may close the stream without an end or an error.
        stream.on('error', () => undefined);
        stream.on('close', () => {
          const gone = this.failure !== undefined || this.session.closed || this.session.destroyed;
          const why = this.failure?.message ?? (gone ? 'the connection closed' : `the stream was reset (HTTP/2 code ${stream?.rstCode ?? '?'})`);
          fail(gone ? STATUS.unavailable : statusOfReset(stream?.rstCode), `${path} to ${this.address}: no reply (${why})`);
        });
        stream.end(frame);
      };
      // Once connected, at once: the probe makes thousands of calls a second on one connection.
      if (this.isConnected) send();
      else this.connected.then(send, (err: Error) => fail(STATUS.unavailable, err.message));
    });
  }
}

/** grpc-js's reading of a stream reset by the server (RST_STREAM) before its status. */
function statusOfReset(rstCode: number | undefined): number {
  switch (rstCode) {
    case http2.constants.NGHTTP2_REFUSED_STREAM:
      return STATUS.unavailable;
    case http2.constants.NGHTTP2_CANCEL:
      return STATUS.cancelled;
    case http2.constants.NGHTTP2_ENHANCE_YOUR_CALM:
      return STATUS.resourceExhausted;
    case http2.constants.NGHTTP2_INADEQUATE_SECURITY:
      return STATUS.permissionDenied;
    default:
      return STATUS.internal;
  }
}

/** The gRPC status of an HTTP reply that carries none (a proxy's error page), as the gRPC spec maps them. */
function statusOfHttp(httpStatus: number): number {
  if (httpStatus === 400) return STATUS.internal;
  if (httpStatus === 401) return STATUS.unauthenticated;
  if (httpStatus === 403) return STATUS.permissionDenied;
  if (httpStatus === 404) return STATUS.unimplemented;
  if ([429, 502, 503, 504].includes(httpStatus)) return STATUS.unavailable;
  return STATUS.unknown;
}

/**
 * One call's reply: its headers, the length-prefixed messages cut from the data as it comes
 * (each bounded, and the call as a whole), and the status from the trailers, or from the
 * headers of a reply that fails at once ("trailers-only").
 */
class ReplyReader {
  private responded = false;
  private httpStatus = 200;
  private contentType: string | undefined;
  private status: number | undefined;
  private message = '';
  private readonly chunks: Buffer[] = [];
  private buffered = 0;
  private received = 0;
  /** The length of the message being read, once its prefix has come. */
  private announced: number | undefined;
  private readonly complete: Buffer[] = [];

  constructor(
    private readonly path: string,
    private readonly address: string,
  ) {}

  headers(headers: http2.IncomingHttpHeaders & http2.IncomingHttpStatusHeader): void {
    this.responded = true;
    this.httpStatus = headers[':status'] ?? 200;
    this.contentType = headers['content-type'];
    this.trailers(headers);
  }

  trailers(headers: http2.IncomingHttpHeaders): void {
    const status = headers['grpc-status'];
    // The spec's status is digits; anything else ('', 'x', a list) is no status a call can trust as OK.
    if (status !== undefined) this.status = typeof status === 'string' && /^\d{1,9}$/.test(status) ? Number(status) : STATUS.unknown;
    const message = headers['grpc-message'];
    if (message !== undefined) this.message = percentDecoded(String(message));
  }

  data(chunk: Buffer): void {
    this.received += chunk.length;
    if (this.received > CALL_MAX_BYTES) throw this.error(STATUS.resourceExhausted, `reply over ${CALL_MAX_BYTES} bytes in all`);
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    for (;;) {
      if (this.announced === undefined) {
        if (this.buffered < PREFIX_BYTES) return;
        const prefix = this.take(PREFIX_BYTES);
        if (prefix[0] !== 0) throw this.error(STATUS.internal, 'a compressed gRPC reply (none was asked for)');
        this.announced = prefix.readUInt32BE(1);
        if (this.announced > MESSAGE_MAX_BYTES) throw this.error(STATUS.resourceExhausted, `a reply message of ${this.announced} bytes, over ${MESSAGE_MAX_BYTES}`);
      }
      if (this.buffered < this.announced) return;
      this.complete.push(this.take(this.announced));
      this.announced = undefined;
    }
  }

  /** The reply's messages, if it ended with status OK and nothing cut short; else its error. */
  messages(): Buffer[] {
    // Ended before any headers: the connection went (a plain client at a TLS server, say), as grpc-js sees it.
    if (!this.responded) throw this.error(STATUS.unavailable, 'no reply (the connection closed)');
    if (this.status === undefined) {
      if (this.httpStatus !== 200) throw this.error(statusOfHttp(this.httpStatus), `HTTP status ${this.httpStatus} without a gRPC status`);
      throw this.error(STATUS.unknown, 'the reply ended without a gRPC status');
    }
    if (this.status !== STATUS.ok) throw new PortalCallError(this.status, this.message || `${this.path} from ${this.address}: gRPC status ${this.status}`);
    if (this.contentType?.startsWith('application/grpc') !== true) throw this.error(STATUS.unknown, `a reply of content-type ${this.contentType ?? 'none'}`);
    if (this.announced !== undefined) throw this.error(STATUS.internal, `a gRPC reply announcing ${this.announced} bytes carries ${this.buffered}`);
    if (this.buffered > 0) throw this.error(STATUS.internal, `a gRPC reply of ${this.buffered} bytes, shorter than its prefix`);
    return this.complete;
  }

  private error(code: number, what: string): PortalCallError {
    return new PortalCallError(code, `${this.path} from ${this.address}: ${what}`);
  }

  /** The next n buffered bytes, copied only when they span chunks. */
  private take(n: number): Buffer {
    this.buffered -= n;
    const first = this.chunks[0];
    if (first !== undefined && first.length >= n) {
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    for (let at = 0; at < n; ) {
      const chunk = this.chunks[0]!;
      const k = Math.min(chunk.length, n - at);
      chunk.copy(out, at, 0, k);
      at += k;
      if (k === chunk.length) this.chunks.shift();
      else this.chunks[0] = chunk.subarray(k);
    }
    return out;
  }
}

/** grpc-message is percent-encoded; a server that sends it malformed still has its text shown. */
function percentDecoded(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
