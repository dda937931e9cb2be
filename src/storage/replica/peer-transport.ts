import { connect, createServer, type Server, type Socket } from 'node:net';
import { decodeMessage, decodeMessageHead, encodeMessage, encodeMessageHead } from '../../raft/codec.js';
import type { Message } from '../../raft/types.js';
import { encodeFrame, frameHeader, type FrameDecoder } from '../../net/frames.js';
import { handshake, HandshakeRefusedError } from '../../net/handshake.js';
import type { ReplicaAddress } from '../common/topology.js';
import { ChunkAssembler, chunksOfSource, CHUNK_BYTES, decodeChunkAck, encodeChunkAck, headAndTail, inMemory, isChunk, isChunkAck, MAX_CHUNKED_MESSAGE_BYTES, MAX_TRANSFER_BYTES, OutOfPlaceChunk, transferKey, transferKeyInSlices, type ChunkAck, type ChunkProgress, type ChunkSource, type FileTail, type Spool } from './message-chunks.js';
import type { ReceivedFile } from './spool-file.js';

/**
 * Raft messages between the replicas of a partition: one-way binary frames over TCP. Two
 * outgoing connections per peer: one for the bulk of replication (appends and snapshots, which
 * can be megabytes) and one for what keeps leadership alive (heartbeats, votes, acknowledgements,
 * TimeoutNow), so a heartbeat never waits behind a big append in a socket buffer (issue #18).
 * Raft tolerates loss and reordering, so a message to a peer that cannot be reached is dropped
 * (and counted) rather than queued without bound; reconnects are paced.
 */
type Lane = 'bulk' | 'control';
const laneOf = (m: Message): Lane => (m.type === 'App' || m.type === 'Snap' ? 'bulk' : 'control');

const MAX_BUFFERED_BYTES_PER_PEER = 64 << 20;
/** Transfers a sender remembers a resume point for; more means the oldest is forgotten (it then starts over). */
const MAX_RESUME_POINTS = 16;
const RECONNECT_PAUSE_MS = 100;
const REFUSAL_REPORT_EVERY_MS = 10_000;

interface Outgoing {
  socket: Socket | undefined;
  /** A message is going out in chunks on this socket: another big one waits for Raft to send it again. */
  streaming: boolean;
  /** The peer has proved the cluster's secret on this socket; until then messages to it are dropped. */
  ready: boolean;
  lastFailure_ms: number;
  lastRefusalReport_ms: number;
  /** host:port the socket goes to: a member re-added elsewhere gets a new connection. */
  where: string;
}

export class PeerTransport {
  private server: Server | undefined;
  private readonly incoming = new Set<Socket>();
  /** By `${peer}/${lane}`. */
  private readonly outgoing = new Map<string, Outgoing>();
  dropped = 0;
  /** Bytes of big messages not sent again because a broken transfer resumed where it was cut. */
  resumedBytes = 0;
  /** What the receivers said they hold of each transfer, by `${peer}/${key}`. */
  private readonly resumeAt = new Map<string, number>();
  /** Transfers begun and not yet all written (cut, or under way), by `${peer}/${key}`, oldest first. */
  private readonly unfinished = new Set<string>();

  /** The furthest any receiver said it holds of a transfer not finished (for tests and diagnosis). */
  get furthestResumePoint(): number {
    return Math.max(0, ...this.resumeAt.values());
  }
  /** Transfers in progress to this replica, kept across connections so a broken one resumes. */
  private readonly chunks: ChunkAssembler;
  private closed = false;

  constructor(
    private readonly self: ReplicaAddress,
    private readonly secret: Buffer,
    /** Where a member listens now: membership changes (src/storage/replica/membership-ops.ts) move it. */
    private readonly addressOf: (id: number) => ReplicaAddress | undefined,
    /** A message from a peer; a store file that came with it, written to disk as it arrived, is `file`, which the callee keeps or discards. */
    private readonly onMessage: (message: Message, file?: ReceivedFile) => void,
    private readonly onError: (err: Error) => void,
    /** A connection from member `id` closed (the member died, or its link broke). */
    private readonly onPeerLeft: (id: number) => void = () => undefined,
    /** Which transfers are written to disk as they arrive, and where; without it, all are held in memory (at most 512 MiB). */
    spool?: Spool,
  ) {
    this.chunks = new ChunkAssembler(spool);
  }

  listen(): Promise<void> {
    const server = createServer((socket) => {
      this.incoming.add(socket);
      socket.setNoDelay(true);
      socket.on('error', () => socket.destroy());
      socket.on('close', () => this.incoming.delete(socket));
      const from = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
      handshake(socket, 'accept', this.secret, 'raft').then(
        ({ decoder, early }) => this.receive(socket, decoder, early),
        (err: Error) => {
          if (err instanceof HandshakeRefusedError) this.onError(new Error(`refused a Raft connection from ${from}: ${err.message}`));
        },
      );
    });
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', (err) => reject(new Error(`replica ${this.self.id} cannot listen for Raft on ${this.self.host}:${this.self.raftPort}: ${err.message}`)));
      server.listen(this.self.raftPort, this.self.host, () => resolve());
    });
  }

  private receive(socket: Socket, decoder: FrameDecoder, early: Buffer[]): void {
    // Who is on the other end: the sender of the first message that arrives on the connection.
    let peer: number | undefined;
    const deliver = (frames: Buffer[]) => {
      for (const frame of frames) {
        if (isChunkAck(frame)) this.onChunkAck(decodeChunkAck(frame));
        else if (isChunk(frame)) {
          const pause = this.onChunk(frame);
          // The disk is behind a transfer written to it: read on once it caught up.
          if (pause !== undefined && !socket.isPaused()) {
            socket.pause();
            void pause.then(() => socket.resume());
          }
        } else {
          const message = decodeMessage(frame);
          peer ??= message.from;
          this.onMessage(message);
        }
      }
    };
    socket.on('close', () => {
      if (peer !== undefined) this.onPeerLeft(peer);
    });
    try {
      deliver(early);
    } catch (err) {
      this.onError(new Error(`bad message from a peer (${(err as Error).message}); connection dropped`));
      socket.destroy();
      return;
    }
    socket.on('data', (chunk) => {
      try {
        deliver(decoder.push(chunk));
      } catch (err) {
        this.onError(new Error(`bad message from a peer (${(err as Error).message}); connection dropped`));
        socket.destroy();
      }
    });
  }

  private onChunk(frame: Buffer): Promise<void> | undefined {
    let progress: ChunkProgress;
    try {
      progress = this.chunks.push(frame);
    } catch (err) {
      // Tell the sender what is held, so its next attempt resumes there (or starts over).
      if (err instanceof OutOfPlaceChunk) this.sendAck(err.resumeAt);
      throw err;
    }
    if (progress.ackDue) this.sendAck(progress.ack);
    if (progress.whole !== undefined) this.onMessage(decodeMessage(progress.whole, MAX_CHUNKED_MESSAGE_BYTES));
    if (progress.spooled !== undefined) this.onSpooled(progress.spooled, progress.ack.from);
    return progress.pause;
  }

  /** A transfer written to disk, handed on once its last bytes are written: the head decoded, the file with it. */
  private onSpooled(spooled: Promise<{ head: Uint8Array; file: ReceivedFile }>, from: number): void {
    spooled.then(
      ({ head, file }) => {
        if (this.closed) return file.discard();
        let message: Message;
        try {
          message = decodeMessageHead(head, file.bytes, MAX_TRANSFER_BYTES);
        } catch (err) {
          file.discard();
          return this.onError(new Error(`bad message from replica ${from} (${(err as Error).message}); its file is removed`));
        }
        this.onMessage(message, file);
      },
      (err: unknown) => this.onError(new Error(`a transfer from replica ${from} was not received: ${(err as Error).message}; Raft sends it again`)),
    ).catch((err: unknown) => this.onError(err instanceof Error ? err : new Error(String(err))));
  }

  /** Tells the transfer's sender how much of it this replica holds, on the control connection; lost if it is not open. */
  private sendAck(ack: ChunkAck): void {
    const socket = this.socketTo(ack.from, 'control');
    if (socket === undefined) return;
    socket.write(encodeFrame(encodeChunkAck({ ...ack, from: this.self.id })));
  }

  private onChunkAck(ack: ChunkAck): void {
    const name = `${ack.from}/${ack.key.toString('hex')}`;
    // An ack that arrives after its transfer was all written is late: resuming from it would skip the start of the next one.
    if (!this.unfinished.has(name)) return;
    this.resumeAt.delete(name);
    this.resumeAt.set(name, ack.received);
    for (const old of this.resumeAt.keys()) if (this.resumeAt.size > MAX_RESUME_POINTS) this.resumeAt.delete(old);
  }

  /**
   * Sends a batch of messages; writes to one peer are corked so a batch leaves in few packets.
   * They leave at the end of this tick, or at once with `now` (a leader's appends sent before
   * its own fsync, which blocks the tick, must not wait for it).
   */
  send(messages: readonly Message[], now = false): void {
    const byLink = new Map<string, { to: number; lane: Lane; batch: Message[] }>();
    for (const m of messages) {
      const lane = laneOf(m);
      const key = `${m.to}/${lane}`;
      const link = byLink.get(key);
      if (link === undefined) byLink.set(key, { to: m.to, lane, batch: [m] });
      else link.batch.push(m);
    }
    for (const { to, lane, batch } of byLink.values()) {
      const link = this.link(to, lane);
      if (link === undefined) {
        this.dropped += batch.length;
        continue;
      }
      const { socket, out } = link;
      socket.cork();
      for (const m of batch) {
        // A snapshot while another streams on this link is dropped before it costs an encoding (Raft sends it again).
        if (m.type === 'Snap' && out.streaming) {
          this.dropped++;
          continue;
        }
        const encoded = this.encode(m);
        if (encoded === undefined) continue;
        if (encoded.length <= CHUNK_BYTES) socket.write(encodeFrame(encoded));
        else if (out.streaming) this.dropped++;
        else void this.stream(socket, out, inMemory(encoded), m.to, transferKeyInSlices(encoded));
      }
      if (now) socket.uncork();
      else process.nextTick(() => socket.uncork());
    }
  }

  /**
   * Sends one Snap (a store file, megabytes); false when it was dropped: no ready connection to
   * the peer yet, a transfer already streaming on the link, or too big to encode. With `tail`,
   * the snapshot's data goes on with the bytes of a file, read as the chunks leave.
   */
  sendSnapshot(m: Message, tail?: FileTail): boolean {
    const before = this.dropped;
    if (tail === undefined) {
      this.send([m], false);
      return this.dropped === before;
    }
    const link = this.link(m.to, 'bulk');
    if (link === undefined || link.out.streaming) {
      this.dropped++;
      return false;
    }
    let head: Uint8Array;
    try {
      head = encodeMessageHead(m, tail.bytes, MAX_TRANSFER_BYTES);
    } catch (err) {
      this.dropped++;
      this.onError(new Error(`cannot send ${m.type} to replica ${m.to}: ${(err as Error).message}`));
      return false;
    }
    // The head holds the file's checksum and size: it names these bytes as well as a hash of them all.
    void this.stream(link.socket, link.out, headAndTail(head, tail), m.to, transferKey(head));
    return true;
  }

  /** The ready connection to a peer on a lane with room in its buffer, or undefined (the message is then dropped). */
  private link(to: number, lane: Lane): { socket: Socket; out: Outgoing } | undefined {
    const socket = this.socketTo(to, lane);
    const out = this.outgoing.get(`${to}/${lane}`);
    if (socket === undefined || out === undefined || socket.writableLength > MAX_BUFFERED_BYTES_PER_PEER) return undefined;
    return { socket, out };
  }

  /** A message that cannot be encoded (a snapshot over what a transfer carries) is dropped, saying why: the replica goes on. */
  private encode(m: Message): Uint8Array | undefined {
    try {
      return encodeMessage(m, m.type === 'Snap' ? MAX_CHUNKED_MESSAGE_BYTES : undefined);
    } catch (err) {
      this.dropped++;
      this.onError(new Error(`cannot send ${m.type} to replica ${m.to}: ${(err as Error).message}`));
      return undefined;
    }
  }

  /**
   * Writes a big message in chunks, each after the socket has taken the one before: a snapshot
   * of any size costs a bounded buffer, and heartbeats keep flowing on the control connection.
   * A broken connection ends the transfer; Raft sends the snapshot again, and it resumes from
   * what the receiver last said it holds of this very message (`key` names it).
   */
  private async stream(socket: Socket, out: Outgoing, source: ChunkSource, to: number, keyOf: Buffer | Promise<Buffer>): Promise<void> {
    out.streaming = true;
    try {
      const key = await keyOf;
      const name = `${to}/${key.toString('hex')}`;
      const held = this.resumeAt.get(name) ?? 0;
      const start = held < source.length ? held : 0;
      this.resumedBytes += start;
      this.unfinished.delete(name);
      this.unfinished.add(name);
      for (const old of this.unfinished) if (this.unfinished.size > MAX_RESUME_POINTS) this.unfinished.delete(old);
      for await (const chunk of chunksOfSource(source, { from: this.self.id, key }, start)) {
        if (socket.destroyed) return;
        socket.write(frameHeader(chunk.length));
        if (!socket.write(chunk)) await drained(socket);
      }
      this.unfinished.delete(name);
      this.resumeAt.delete(name);
    } catch (err) {
      // A file that could not be read (the copy was replaced under the transfer): Raft sends the snapshot again.
      this.dropped++;
      this.onError(new Error(`a transfer to replica ${to} stopped: ${(err as Error).message}`));
    } finally {
      out.streaming = false;
    }
  }

  private socketTo(id: number, lane: Lane): Socket | undefined {
    const peer = id === this.self.id ? undefined : this.addressOf(id);
    if (peer === undefined) return undefined;
    const key = `${id}/${lane}`;
    const where = `${peer.host}:${peer.raftPort}`;
    let out = this.outgoing.get(key);
    if (out !== undefined && out.where !== where) {
      out.socket?.destroy();
      out = undefined;
    }
    if (out === undefined) {
      out = { socket: undefined, streaming: false, ready: false, lastFailure_ms: 0, lastRefusalReport_ms: -Infinity, where };
      this.outgoing.set(key, out);
    }
    if (out.socket !== undefined && !out.socket.destroyed) return out.ready ? out.socket : undefined;
    if (Date.now() - out.lastFailure_ms < RECONNECT_PAUSE_MS) return undefined;
    const socket = connect({ host: peer.host, port: peer.raftPort });
    socket.setNoDelay(true);
    const entry = out;
    entry.ready = false;
    socket.on('error', () => {
      entry.lastFailure_ms = Date.now();
      socket.destroy();
    });
    socket.on('close', () => {
      if (entry.socket === socket) {
        entry.socket = undefined;
        entry.ready = false;
      }
    });
    // Raft resends what is lost, so messages sent while the handshake runs are dropped, not queued.
    handshake(socket, 'connect', this.secret, 'raft').then(
      () => {
        if (entry.socket === socket) entry.ready = true;
      },
      (err: Error) => {
        entry.lastFailure_ms = Date.now();
        // A peer that is down is normal and retried quietly; one that refuses us is a misconfiguration worth a line now and then.
        if (err instanceof HandshakeRefusedError && Date.now() - entry.lastRefusalReport_ms > REFUSAL_REPORT_EVERY_MS) {
          entry.lastRefusalReport_ms = Date.now();
          this.onError(new Error(`cannot open a Raft connection to replica ${id} at ${peer.host}:${peer.raftPort}: ${err.message}`));
        }
      },
    );
    out.socket = socket;
    return undefined;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.chunks.close();
    for (const out of this.outgoing.values()) out.socket?.destroy();
    for (const socket of this.incoming) socket.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

/** Resolves once the socket can take more, or has closed (the transfer then ends). */
function drained(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.once('drain', done);
    socket.once('close', done);
  });
}

