import { connect, type Socket } from 'node:net';
import type { FrameDecoder } from '../../src/net/frames.js';
import { handshake, type ConnectionPurpose } from '../../src/net/handshake.js';
import { clusterSecretOf, type Topology } from '../../src/storage/common/topology.js';

/** A raw connection to a replica port that has proved the cluster's secret: what a hostile member could send. */
export interface AuthenticatedSocket {
  readonly socket: Socket;
  readonly decoder: FrameDecoder;
}

export async function connectAuthenticated(topology: Topology, port: number, purpose: ConnectionPurpose): Promise<AuthenticatedSocket> {
  const socket = connect({ host: '127.0.0.1', port });
  socket.on('error', () => socket.destroy());
  const { decoder, early } = await handshake(socket, 'connect', clusterSecretOf(topology), purpose);
  if (early.length > 0) throw new Error(`the replica sent ${early.length} frames before any request`);
  return { socket, decoder };
}
