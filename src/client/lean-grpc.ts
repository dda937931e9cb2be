import { isIP } from 'node:net';
import { encodeHeaderBlock } from '../net/h2/hpack.js';
import { H2_ERROR, H2Connection, type H2Call, type HeaderRecord } from './h2-connection.js';
import { MessageReader, PREFIX_BYTES } from '../net/grpc/message-reader.js';
import { MESSAGE_MAX_BYTES, percentDecoded } from '../net/grpc/status.js';
import { DEFAULT_TIMEOUT_MS, PortalCallError, STATUS } from './portal-calls.js';

/** A reply message larger than this is refused, as grpc-js refuses one over its default receive limit. */
export { MESSAGE_MAX_BYTES };
/** All the messages of one call (a client's orders) together: the call fails beyond it rather than fill memory. */
export const CALL_MAX_BYTES = 64 << 20;

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
 * resolving and retrying layers), and so does node:http2 beneath it (h2-connection.ts says
 * why); two users cannot afford that: a one-shot command that must start within a quarter of a
 * second (loading grpc-js alone took 70 ms of it), and the bench's load generator, whose CPU is
 * taken from the system it measures on this 2-core machine.
 *
 * Failures reject with a PortalCallError carrying the gRPC status grpc-js would give: the
 * server's status and message; UNAVAILABLE (14) when no connection could be made or it
 * dropped, its cause (a TLS certificate not trusted, a refused connection) in the details;
 * DEADLINE_EXCEEDED (4) when no reply came in time.
 */
export class LeanGrpcChannel {
  readonly address: string;
  private readonly connection: H2Connection;
  private readonly timeout_ms: number;
  private readonly authority: string;
  /** Each path's request header block: the encoding keeps no state, so one block serves every call. */
  private readonly blocks = new Map<string, Buffer>();

  constructor(readonly options: LeanGrpcOptions) {
    this.address = `${options.host}:${options.port}`;
    this.timeout_ms = options.timeout_ms ?? DEFAULT_TIMEOUT_MS;
    this.authority = isIP(options.host) === 6 ? `[${options.host}]:${options.port}` : this.address;
    // A token HTTP/2 cannot carry is refused here, with the header named, before any call is made.
    if (options.token !== undefined) encodeHeaderBlock([['authorization', `Bearer ${options.token}`]]);
    // No server name (SNI) for an address: TLS forbids it; the certificate is still checked against the address.
    this.connection = new H2Connection({ host: options.host, port: options.port, tlsCa: options.tlsCa, servername: isIP(options.host) === 0 ? options.host : '' });
  }

  close(): void {
    this.connection.close();
  }

  /** One call: a request message's bytes sent to `path`, every reply message's bytes once the status says it went well. */
  call(path: string, body: Buffer): Promise<Buffer[]> {
    const frame = Buffer.allocUnsafe(PREFIX_BYTES + body.length);
    frame[0] = 0;
    frame.writeUInt32BE(body.length, 1);
    body.copy(frame, PREFIX_BYTES);
    const block = this.headerBlock(path);

    return new Promise<Buffer[]>((resolve, reject) => {
      let settled = false;
      // Filled once the request is made; a reply may settle the call before that (a connection already gone).
      const sent: { call?: H2Call } = {};
      const reply = new ReplyReader(path, this.address);
      const settle = (outcome: () => Buffer[]) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        try {
          resolve(outcome());
        } catch (err) {
          sent.call?.cancel();
          reject(err instanceof Error ? err : new Error(String(err)));
        }
      };
      const fail = (code: number, details: string) =>
        settle(() => {
          throw new PortalCallError(code, details);
        });
      const timer = setTimeout(() => fail(STATUS.deadlineExceeded, `${path} to ${this.address}: no reply within ${this.timeout_ms} ms`), this.timeout_ms);
      // Each piece of the reply is read as it comes; the last one settles the call.
      const step = (read: () => void, endStream: boolean) => {
        if (settled) return;
        try {
          read();
        } catch (err) {
          settle(() => {
            throw err;
          });
          return;
        }
        if (endStream) settle(() => reply.messages());
      };
      sent.call = this.connection.request(block, frame, {
        onHeaders: (headers, endStream) => step(() => reply.headers(headers), endStream),
        onData: (chunk, endStream) => step(() => reply.data(chunk), endStream),
        onClose: (why) => {
          if ('reset' in why) fail(statusOfReset(why.reset), `${path} to ${this.address}: no reply (the stream was reset, HTTP/2 code ${why.reset})`);
          else fail(STATUS.unavailable, `${path} to ${this.address}: no reply (${why.gone.message})`);
        },
      });
    });
  }

  private headerBlock(path: string): Buffer {
    let block = this.blocks.get(path);
    if (block === undefined) {
      block = encodeHeaderBlock([
        [':method', 'POST'],
        [':scheme', this.options.tlsCa !== undefined ? 'https' : 'http'],
        [':authority', this.authority],
        [':path', path],
        ['content-type', 'application/grpc'],
        ['te', 'trailers'],
        // No grpc-timeout: the deadline is kept here, and a server given one arms a timer per
        // call, which the bench's figures would pay for (docs/bench.md).
        ...(this.options.token !== undefined ? [['authorization', `Bearer ${this.options.token}`] as const] : []),
      ]);
      // A client calls a handful of paths; the bound keeps a caller of many from growing it.
      if (this.blocks.size < 64) this.blocks.set(path, block);
    }
    return block;
  }
}

/** grpc-js's reading of a stream reset by the server (RST_STREAM) before its status. */
function statusOfReset(rstCode: number): number {
  switch (rstCode) {
    case H2_ERROR.refusedStream:
      return STATUS.unavailable;
    case H2_ERROR.cancel:
      return STATUS.cancelled;
    case H2_ERROR.enhanceYourCalm:
      return STATUS.resourceExhausted;
    case H2_ERROR.inadequateSecurity:
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
  private received = 0;
  private readonly reader = new MessageReader(MESSAGE_MAX_BYTES, (announced) => this.error(STATUS.resourceExhausted, `a reply message of ${announced} bytes, over ${MESSAGE_MAX_BYTES}`));
  private readonly complete: Buffer[] = [];

  constructor(
    private readonly path: string,
    private readonly address: string,
  ) {}

  headers(headers: HeaderRecord): void {
    if (this.responded) return this.trailers(headers);
    this.responded = true;
    const status = headers[':status'];
    // A reply without a three-digit status is no HTTP reply; 0 maps to UNKNOWN if no gRPC status says more.
    this.httpStatus = typeof status === 'string' && /^\d{3}$/.test(status) ? Number(status) : 0;
    const contentType = headers['content-type'];
    this.contentType = typeof contentType === 'string' ? contentType : undefined;
    this.trailers(headers);
  }

  trailers(headers: HeaderRecord): void {
    const status = headers['grpc-status'];
    // The spec's status is digits; anything else ('', 'x', a list) is no status a call can trust as OK.
    if (status !== undefined) this.status = typeof status === 'string' && /^\d{1,9}$/.test(status) ? Number(status) : STATUS.unknown;
    const message = headers['grpc-message'];
    if (message !== undefined) this.message = percentDecoded(String(message));
  }

  data(chunk: Buffer): void {
    this.received += chunk.length;
    if (this.received > CALL_MAX_BYTES) throw this.error(STATUS.resourceExhausted, `reply over ${CALL_MAX_BYTES} bytes in all`);
    this.reader.push(chunk, (bytes, compressed) => {
      if (compressed) throw this.error(STATUS.internal, 'a compressed gRPC reply (none was asked for)');
      this.complete.push(bytes);
    });
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
    if (this.reader.announced !== undefined) throw this.error(STATUS.internal, `a gRPC reply announcing ${this.reader.announced} bytes carries ${this.reader.buffered}`);
    if (this.reader.buffered > 0) throw this.error(STATUS.internal, `a gRPC reply of ${this.reader.buffered} bytes, shorter than its prefix`);
    return this.complete;
  }

  private error(code: number, what: string): PortalCallError {
    return new PortalCallError(code, `${this.path} from ${this.address}: ${what}`);
  }
}

