import { connect, createServer, type Server, type Socket } from 'node:net';
import { decodeMessage, encodeMessage } from '../../raft/codec.js';
import type { Message } from '../../raft/types.js';
import { encodeFrame, FrameDecoder } from '../../net/frames.js';
import type { ReplicaAddress } from '../common/topology.js';

/**
 * Raft messages between the replicas of a partition: one-way binary frames over TCP, one
 * outgoing connection per peer. Raft tolerates loss, so a message to a peer that cannot be
 * reached is dropped (and counted) rather than queued without bound; reconnects are paced.
 */
const MAX_BUFFERED_BYTES_PER_PEER = 64 << 20;
const RECONNECT_PAUSE_MS = 100;

interface Outgoing {
  socket: Socket | undefined;
  lastFailure_ms: number;
}

export class PeerTransport {
  private server: Server | undefined;
  private readonly incoming = new Set<Socket>();
  private readonly outgoing = new Map<number, Outgoing>();
  dropped = 0;

  constructor(
    private readonly self: ReplicaAddress,
    private readonly peers: readonly ReplicaAddress[],
    private readonly onMessage: (message: Message) => void,
    private readonly onError: (err: Error) => void,
  ) {}

  listen(): Promise<void> {
    this.server = createServer((socket) => {
      this.incoming.add(socket);
      socket.setNoDelay(true);
      const decoder = new FrameDecoder();
      socket.on('data', (chunk) => {
        try {
          for (const frame of decoder.push(chunk)) this.onMessage(decodeMessage(frame));
        } catch (err) {
          this.onError(err as Error);
          socket.destroy();
        }
      });
      socket.on('error', () => socket.destroy());
      socket.on('close', () => this.incoming.delete(socket));
    });
    return new Promise((resolve, reject) => {
      this.server!.once('error', (err) => reject(new Error(`replica ${this.self.id} cannot listen for Raft on ${this.self.host}:${this.self.raftPort}: ${err.message}`)));
      this.server!.listen(this.self.raftPort, this.self.host, () => resolve());
    });
  }

  /** Sends a batch of messages; writes to one peer are corked so a batch leaves in few packets. */
  send(messages: readonly Message[]): void {
    const byPeer = new Map<number, Message[]>();
    for (const m of messages) byPeer.set(m.to, [...(byPeer.get(m.to) ?? []), m]);
    for (const [to, batch] of byPeer) {
      const socket = this.socketTo(to);
      if (socket === undefined || socket.writableLength > MAX_BUFFERED_BYTES_PER_PEER) {
        this.dropped += batch.length;
        continue;
      }
      socket.cork();
      for (const m of batch) socket.write(encodeFrame(encodeMessage(m)));
      process.nextTick(() => socket.uncork());
    }
  }

  private socketTo(id: number): Socket | undefined {
    const peer = this.peers.find((p) => p.id === id);
    if (peer === undefined) return undefined;
    let out = this.outgoing.get(id);
    if (out === undefined) {
      out = { socket: undefined, lastFailure_ms: 0 };
      this.outgoing.set(id, out);
    }
    if (out.socket !== undefined && !out.socket.destroyed) return out.socket;
    if (Date.now() - out.lastFailure_ms < RECONNECT_PAUSE_MS) return undefined;
    const socket = connect({ host: peer.host, port: peer.raftPort });
    socket.setNoDelay(true);
    const entry = out;
    socket.on('error', () => {
      entry.lastFailure_ms = Date.now();
      socket.destroy();
    });
    socket.on('close', () => {
      if (entry.socket === socket) entry.socket = undefined;
    });
    out.socket = socket;
    return socket;
  }

  async close(): Promise<void> {
    for (const out of this.outgoing.values()) out.socket?.destroy();
    for (const socket of this.incoming) socket.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
