import { connect, createServer, type Server, type Socket } from 'node:net';
import { encodeFrame, FrameDecoder } from './frames.js';
import { handshake, HandshakeRefusedError } from './handshake.js';

/**
 * Request/response over one TCP connection with framed JSON messages. Calls are pipelined:
 * many may be in flight and answers come back in any order, matched by id. Used between
 * portals and storage replicas; gRPC stays at the public API only (see ARCHITECTURE.md).
 */
interface Envelope {
  readonly id: number;
  readonly body: unknown;
}

/** The call may have reached the server (the connection broke after sending). */
export class CallOutcomeUnknownError extends Error {
  override readonly name = 'CallOutcomeUnknownError';
}

/** The call certainly did not reach the server. */
export class CallNotSentError extends Error {
  override readonly name = 'CallNotSentError';
}

export class CallTimeoutError extends Error {
  override readonly name = 'CallTimeoutError';
}

export type RpcHandler = (body: unknown) => Promise<unknown>;

export interface RpcServerHandle {
  readonly port: number;
  close(): Promise<void>;
}

const corked = new WeakSet<Socket>();

/**
 * Writes a frame, gathering every frame written to the socket in the same turn of the event
 * loop into one writev: a leader that applies a batch answers all its proposals with one
 * system call, and a portal sends the requests one of its turns makes the same way.
 */
function writeBatched(socket: Socket, frame: Buffer): void {
  if (!corked.has(socket)) {
    corked.add(socket);
    socket.cork();
    process.nextTick(() => {
      corked.delete(socket);
      socket.uncork();
    });
  }
  socket.write(frame);
}

/** A request frame must be {id: number, body}; anything else (null, an array, a string) is refused. */
function envelope(value: unknown): Envelope {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('a frame must be a JSON object {id, body}');
  const { id } = value as { id?: unknown };
  if (typeof id !== 'number' || !Number.isSafeInteger(id)) throw new Error('a frame needs a whole-number id');
  return value as Envelope;
}

export function startRpcServer(host: string, port: number, secret: Buffer, handler: RpcHandler, onError: (err: Error) => void): Promise<RpcServerHandle> {
  const sockets = new Set<Socket>();
  const serve = (socket: Socket, decoder: FrameDecoder, early: Buffer[]) => {
    const onFrames = (frames: Buffer[]) => {
      for (const frame of frames) {
        let request: Envelope;
        try {
          request = envelope(JSON.parse(frame.toString('utf8')));
        } catch (err) {
          onError(new Error(`undecodable request: ${(err as Error).message}`));
          socket.destroy();
          return;
        }
        handler(request.body).then(
          (body) => {
            if (!socket.destroyed) writeBatched(socket, encodeFrame(Buffer.from(JSON.stringify({ id: request.id, body }))));
          },
          (err: unknown) => onError(err instanceof Error ? err : new Error(String(err))),
        );
      }
    };
    socket.on('data', (chunk) => {
      let frames: Buffer[];
      try {
        frames = decoder.push(chunk);
      } catch (err) {
        onError(err as Error);
        socket.destroy();
        return;
      }
      onFrames(frames);
    });
    onFrames(early);
  };
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.setNoDelay(true);
    socket.on('error', () => socket.destroy());
    socket.on('close', () => sockets.delete(socket));
    const from = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    handshake(socket, 'accept', secret, 'requests').then(
      ({ decoder, early }) => serve(socket, decoder, early),
      (err: Error) => {
        if (err instanceof HandshakeRefusedError) onError(new Error(`refused a connection from ${from}: ${err.message}`));
      },
    );
  });
  return new Promise((resolve, reject) => {
    server.once('error', (err) => reject(new Error(`cannot listen on ${host}:${port}: ${err.message}`)));
    server.listen(port, host, () => {
      const address = server.address();
      const bound = typeof address === 'object' && address !== null ? address.port : port;
      resolve({
        port: bound,
        close: () =>
          new Promise<void>((done) => {
            for (const socket of sockets) socket.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}

interface Pending {
  resolve(body: unknown): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

/** One client connection, opened on first use and again after it breaks. */
export class RpcConnection {
  private socket: Socket | undefined;
  /** True once the replica has proved the cluster's secret and we ours: calls may flow. */
  private ready = false;
  /** Calls made while the handshake runs; sent when it succeeds (bounded by maxPending). */
  private queued: Buffer[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;

  constructor(
    readonly host: string,
    readonly port: number,
    private readonly secret: Buffer,
    private readonly maxPending = 16_384,
  ) {}

  call(body: unknown, deadline_ms: number): Promise<unknown> {
    if (this.pending.size >= this.maxPending) {
      return Promise.reject(new CallNotSentError(`${this.pending.size} calls already wait for ${this.host}:${this.port} (limit ${this.maxPending})`));
    }
    const socket = this.ensureSocket();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => {
          this.pending.delete(id);
          reject(new CallTimeoutError(`no answer from ${this.host}:${this.port} in time`));
        },
        Math.max(0, deadline_ms - Date.now()),
      );
      this.pending.set(id, { resolve, reject, timer });
      const frame = encodeFrame(Buffer.from(JSON.stringify({ id, body })));
      if (this.ready) writeBatched(socket, frame);
      else this.queued.push(frame);
    });
  }

  private ensureSocket(): Socket {
    if (this.socket !== undefined && !this.socket.destroyed) return this.socket;
    const socket = connect({ host: this.host, port: this.port });
    socket.setNoDelay(true);
    this.ready = false;
    this.queued = [];
    let refusal: string | undefined;
    handshake(socket, 'connect', this.secret, 'requests').then(
      ({ decoder, early }) => {
        if (this.socket !== socket) return;
        this.ready = true;
        socket.on('data', (chunk) => this.onData(socket, decoder.push.bind(decoder), chunk));
        this.deliver(socket, early);
        for (const frame of this.queued) socket.write(frame);
        this.queued = [];
      },
      (err: Error) => {
        refusal = err.message;
        if (this.socket === socket) this.failAll(new CallNotSentError(`${this.host}:${this.port}: ${refusal}`));
      },
    );
    socket.on('error', () => undefined);
    socket.on('close', () => {
      const wasReady = this.ready && this.socket === socket;
      if (this.socket === socket) {
        this.socket = undefined;
        this.ready = false;
        this.queued = [];
      }
      this.failAll(
        wasReady
          ? new CallOutcomeUnknownError(`connection to ${this.host}:${this.port} broke before the answer`)
          : new CallNotSentError(refusal === undefined ? `cannot connect to ${this.host}:${this.port}` : `${this.host}:${this.port}: ${refusal}`),
      );
    });
    this.socket = socket;
    return socket;
  }

  private failAll(err: Error): void {
    for (const [id, waiting] of this.pending) {
      clearTimeout(waiting.timer);
      this.pending.delete(id);
      waiting.reject(err);
    }
  }

  private onData(socket: Socket, decode: (chunk: Buffer) => Buffer[], chunk: Buffer): void {
    let frames: Buffer[];
    try {
      frames = decode(chunk);
    } catch {
      // Not our peer's protocol: drop the connection; the calls on it fail as outcome unknown.
      socket.destroy();
      return;
    }
    this.deliver(socket, frames);
  }

  private deliver(socket: Socket, frames: Buffer[]): void {
    let responses: Envelope[];
    try {
      responses = frames.map((frame) => envelope(JSON.parse(frame.toString('utf8'))));
    } catch {
      socket.destroy();
      return;
    }
    for (const response of responses) {
      const waiting = this.pending.get(response.id);
      if (waiting === undefined) continue;
      this.pending.delete(response.id);
      clearTimeout(waiting.timer);
      waiting.resolve(response.body);
    }
  }

  close(): void {
    this.socket?.destroy();
    this.socket = undefined;
  }
}
