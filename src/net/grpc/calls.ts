import { EventEmitter } from 'node:events';
import type { HeaderRecord } from '../h2/server-connection.js';
import { STATUS } from './status.js';

/**
 * The call objects a handler of the gRPC server receives, shaped as grpc-js shapes them (the
 * members ecom's handlers, grpc-health-check and @grpc/reflection use), so the same handlers run
 * on either server: `request`, `metadata.get`, `cancelled`; for streams `write`, `end`, `destroy`
 * and the events 'data', 'end', 'drain' and 'cancelled'.
 */

/** An error a handler answers with: `code` a gRPC status, `details` the text the client is shown. */
export interface CallError {
  readonly code?: number;
  readonly details?: string;
  readonly message?: string;
}

export type UnaryCallback<Res> = (error: CallError | null, value?: Res) => void;

/** The request's custom metadata: ASCII values as strings, `-bin` ones decoded from base64. */
export class RequestMetadata {
  constructor(private readonly headers: HeaderRecord) {}

  get(key: string): Array<string | Buffer> {
    const name = key.toLowerCase();
    if (name.startsWith(':') || name.startsWith('grpc-')) return [];
    const value = this.headers[name];
    if (value === undefined) return [];
    const values = Array.isArray(value) ? value : [value];
    return name.endsWith('-bin') ? values.map((v) => Buffer.from(v, 'base64')) : values;
  }
}

export interface UnaryCall<Req> {
  readonly request: Req;
  readonly metadata: RequestMetadata;
  readonly cancelled: boolean;
}

/**
 * The unary call a handler receives. A class, not an object literal with a getter: a literal's
 * getter is a new function each call, which V8 keeps in a new hidden class (allocated outside the
 * young generation) per call, and that hidden class kept each call's objects alive through every
 * scavenge until the next mark-compact: at 1,000 calls/s a portal's scavenges took 8-12 ms
 * instead of about 1 (docs/bench.md).
 */
export class UnaryCallHandle<Req> implements UnaryCall<Req> {
  constructor(
    readonly request: Req,
    readonly metadata: RequestMetadata,
    private readonly isOver: () => boolean,
  ) {}

  get cancelled(): boolean {
    return this.isOver();
  }
}

/** What the server does for a streaming call; the call object turns it into grpc-js's surface. */
export interface StreamSink {
  /** Serializes and sends one message; false when the client is slow to read (wait for 'drain'). */
  write(message: unknown): boolean;
  /** Ends the call with OK, or with the error's status. */
  finish(error: CallError | null): void;
}

/** A server-streaming or bidirectional call: a request (server streaming) or 'data' events, and messages written back. */
export class StreamCall<Req> extends EventEmitter {
  cancelled = false;
  private ended = false;

  constructor(
    readonly request: Req,
    readonly metadata: RequestMetadata,
    private readonly sink: StreamSink,
  ) {
    super();
  }

  write(message: unknown): boolean {
    if (this.ended || this.cancelled) return false;
    return this.sink.write(message);
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.sink.finish(null);
  }

  /** Ends the call with the error's status (INTERNAL if it names none). */
  destroy(error?: CallError): void {
    if (this.ended) return;
    this.ended = true;
    this.sink.finish(error ?? { code: STATUS.internal, details: 'the call was ended by the server' });
  }

  /** The client went away or the deadline passed. */
  cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.ended = true;
    this.emit('cancelled');
  }
}
