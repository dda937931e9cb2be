import { createServer, connect, type Server, type Socket } from 'node:net';
import { FloorFrameReader, FloorKind, floorFrame } from './floor-protocol.js';

/**
 * The stand-ins of the visibility floor (`ecom bench-floor-node`): a broker that sends every
 * publish to every connection, and portals that publish a probe's write, answer it when the
 * broker sends it back, and answer reads from what the broker has sent. Each is its own process,
 * as mqtt mode's broker and portals are, so a write pays the same process wake-ups; none of them
 * does any work beyond moving five bytes.
 */

/** Writes a portal stand-in holds while their publish is out: past it, it refuses (a probe needs far fewer). */
export const FLOOR_MAX_WAITING_WRITES = 10_000;
/** Ids a portal stand-in remembers: minutes at thousands of writes a second; past it, it refuses writes. */
export const FLOOR_MAX_SEEN = 2_000_000;
/** Bytes queued to one connection that does not read: past it, the connection is closed. */
export const FLOOR_MAX_QUEUED_BYTES = 1 << 20;

export interface FloorNode {
  readonly server: Server;
  close(): Promise<void>;
}

type Warn = (message: string) => void;

function send(socket: Socket, frame: Buffer, warn: Warn): void {
  if (socket.destroyed) return;
  if (socket.writableLength > FLOOR_MAX_QUEUED_BYTES) {
    warn(`closing a connection that has not read ${socket.writableLength} bytes`);
    socket.destroy();
    return;
  }
  socket.write(frame);
}

/** Reads frames of the `accepted` kinds from `socket`; anything else closes it, with a line saying why. */
function readFrames(socket: Socket, accepted: readonly number[], warn: Warn, onFrame: (kind: number, id: number) => void): void {
  socket.setNoDelay(true);
  const reader = new FloorFrameReader(new Set(accepted), onFrame);
  socket.on('data', (chunk: Buffer) => {
    const refused = reader.push(chunk);
    if (refused === undefined) return;
    warn(`closing a connection that sent ${refused}`);
    socket.destroy();
  });
  socket.on('error', () => socket.destroy());
}

async function listen(host: string, port: number, onConnection: (socket: Socket) => void): Promise<FloorNode> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    onConnection(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    server,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** The broker stand-in: every publish goes to every connection, the sender's included (as a subscribed portal gets its own). */
export function startFloorBroker(host: string, port: number, warn: Warn): Promise<FloorNode> {
  const subscribers = new Set<Socket>();
  return listen(host, port, (socket) => {
    subscribers.add(socket);
    socket.on('close', () => subscribers.delete(socket));
    readFrames(socket, [FloorKind.publish], warn, (_kind, id) => {
      const frame = floorFrame(FloorKind.publish, id);
      for (const subscriber of subscribers) send(subscriber, frame, warn);
    });
  });
}

/** A portal stand-in on `port`, connected to the broker stand-in on `brokerPort`; `onBrokerLost` when that connection ends. */
export async function startFloorPortal(host: string, port: number, brokerPort: number, warn: Warn, onBrokerLost: () => void): Promise<FloorNode> {
  const seen = new Set<number>();
  const waiting = new Map<number, Socket>();
  const broker = connect(brokerPort, host);
  await new Promise<void>((resolve, reject) => {
    broker.once('connect', resolve);
    broker.once('error', (err) => reject(new Error(`the broker stand-in at ${host}:${brokerPort} does not answer (${err.message}); start it first`)));
  });
  broker.on('close', onBrokerLost);
  readFrames(broker, [FloorKind.publish], warn, (_kind, id) => {
    if (seen.size < FLOOR_MAX_SEEN) seen.add(id);
    const writer = waiting.get(id);
    if (writer === undefined) return;
    waiting.delete(id);
    send(writer, floorFrame(FloorKind.written, id), warn);
  });
  const node = await listen(host, port, (socket) => {
    readFrames(socket, [FloorKind.write, FloorKind.read], warn, (kind, id) => {
      if (kind === FloorKind.read) return send(socket, floorFrame(seen.has(id) ? FloorKind.found : FloorKind.notFound, id), warn);
      if (waiting.size >= FLOOR_MAX_WAITING_WRITES || seen.size >= FLOOR_MAX_SEEN || waiting.has(id)) return send(socket, floorFrame(FloorKind.refused, id), warn);
      waiting.set(id, socket);
      send(broker, floorFrame(FloorKind.publish, id), warn);
    });
    socket.on('close', () => {
      for (const [id, writer] of waiting) if (writer === socket) waiting.delete(id);
    });
  });
  return {
    server: node.server,
    close: async () => {
      // Closed here on purpose: not the broker going away.
      broker.off('close', onBrokerLost);
      broker.destroy();
      await node.close();
    },
  };
}
