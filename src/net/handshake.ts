import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Socket } from 'node:net';
import { DEFAULT_MAX_FRAME_BYTES, encodeFrame, FrameDecoder } from './frames.js';

/**
 * Proof of the cluster's secret at the start of every internal connection (replica request
 * ports and Raft peer ports), in both directions: the side that connects proves it may talk
 * to the cluster, and the side that accepts proves it is a member (so a process that grabbed a
 * replica's port cannot collect proposals).
 *
 * A challenge and response over the connection's own frames, with HMAC-SHA256 from node:crypto:
 *   accepting side  → [HELLO][its nonce, 32 bytes]
 *   connecting side → [PROOF][its nonce][HMAC(secret, "client" | purpose | both nonces)]
 *   accepting side  → [WELCOME][HMAC(secret, "server" | purpose | both nonces)], or [REFUSED][why]
 * and from then on the application's frames. Fresh nonces on both sides make a recorded
 * exchange useless on another connection; the purpose ("raft", "requests") keeps a proof for
 * one port from opening the other.
 *
 * Why not TLS: it would authenticate just as well (TLS-PSK works in Node) but encrypts every
 * frame on the hottest path of the system, and these ports carry no secrets across a network
 * we do not trust by default (docs/security.md says what this does and does not protect).
 */
export type ConnectionPurpose = 'raft' | 'requests';

const HELLO = 1;
const PROOF = 2;
const WELCOME = 3;
const REFUSED = 4;
const NONCE_BYTES = 32;
const MAC_BYTES = 32;
/** A side that has not finished the handshake by then is cut off. */
export const HANDSHAKE_TIMEOUT_MS = 5_000;
const MAX_HANDSHAKE_FRAME_BYTES = 1_024;

/** The other side refused us, or could not prove the secret, or does not speak the handshake. */
export class HandshakeRefusedError extends Error {
  override readonly name = 'HandshakeRefusedError';
}

/** The connection closed or went quiet before the handshake finished (a peer that is down, a restart). */
export class HandshakeInterruptedError extends Error {
  override readonly name = 'HandshakeInterruptedError';
}

function mac(secret: Buffer, side: 'client' | 'server', purpose: ConnectionPurpose, serverNonce: Buffer, clientNonce: Buffer): Buffer {
  return createHmac('sha256', secret).update(`ecom/1 ${side} ${purpose}\n`).update(serverNonce).update(clientNonce).digest();
}

function frame(type: number, ...parts: Buffer[]): Buffer {
  return encodeFrame(Buffer.concat([Buffer.of(type), ...parts]));
}

export interface HandshakeDone {
  /** The connection's decoder, now at the application's frame limit; it holds any partial frame. */
  readonly decoder: FrameDecoder;
  /** Whole frames that arrived right behind the handshake, for the application. */
  readonly early: Buffer[];
}

/**
 * Runs the handshake on `socket` and resolves once the other side has proved the secret; it
 * then owns no listener on the socket. Rejects (and destroys the socket) otherwise, saying why.
 */
export function handshake(socket: Socket, side: 'accept' | 'connect', secret: Buffer, purpose: ConnectionPurpose, max_frame_bytes = DEFAULT_MAX_FRAME_BYTES): Promise<HandshakeDone> {
  return new Promise((resolve, reject) => new Handshake(socket, side, secret, purpose, max_frame_bytes, resolve, reject).start());
}

type Verdict = 'wait' | 'done' | 'failed';

class Handshake {
  private readonly decoder = new FrameDecoder(MAX_HANDSHAKE_FRAME_BYTES);
  private readonly ownNonce = randomBytes(NONCE_BYTES);
  private serverNonce: Buffer | undefined;
  private clientNonce: Buffer | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly onData = (chunk: Buffer) => this.receive(chunk);
  private readonly onClose = () => this.fail(new HandshakeInterruptedError('the connection closed during the handshake'));

  constructor(
    private readonly socket: Socket,
    private readonly side: 'accept' | 'connect',
    private readonly secret: Buffer,
    private readonly purpose: ConnectionPurpose,
    private readonly max_frame_bytes: number,
    private readonly resolve: (done: HandshakeDone) => void,
    private readonly reject: (err: Error) => void,
  ) {}

  start(): void {
    this.timer = setTimeout(() => this.fail(new HandshakeInterruptedError(`no handshake within ${HANDSHAKE_TIMEOUT_MS} ms`)), HANDSHAKE_TIMEOUT_MS);
    this.socket.on('data', this.onData);
    this.socket.on('close', this.onClose);
    if (this.side === 'accept') this.socket.write(frame(HELLO, this.ownNonce));
  }

  private cleanup(): void {
    clearTimeout(this.timer);
    this.socket.off('data', this.onData);
    this.socket.off('close', this.onClose);
  }

  /** Ends the attempt; `tell` is sent to the other side as the reason before the connection closes. */
  private fail(why: string | Error, tell?: string): 'failed' {
    this.cleanup();
    if (tell !== undefined && !this.socket.destroyed) this.socket.end(frame(REFUSED, Buffer.from(tell)));
    else this.socket.destroy();
    this.reject(typeof why === 'string' ? new HandshakeRefusedError(why) : why);
    return 'failed';
  }

  private receive(chunk: Buffer): void {
    let frames: Buffer[];
    try {
      frames = this.decoder.push(chunk);
    } catch {
      this.fail('the other side does not speak the ecom handshake (oversized first frame)', this.side === 'accept' ? 'not an ecom handshake' : undefined);
      return;
    }
    for (let i = 0; i < frames.length; i++) {
      const verdict = this.side === 'accept' ? this.onProof(frames[i]!) : this.onServerFrame(frames[i]!);
      if (verdict === 'failed') return;
      if (verdict === 'done') {
        // Frames right behind the handshake (and bytes still buffered) belong to the application.
        this.cleanup();
        this.decoder.max_bytes = this.max_frame_bytes;
        this.resolve({ decoder: this.decoder, early: frames.slice(i + 1) });
        return;
      }
    }
  }

  private onProof(f: Buffer): Verdict {
    if (f.length !== 1 + NONCE_BYTES + MAC_BYTES || f[0] !== PROOF) {
      return this.fail('the other side does not speak the ecom handshake', 'not an ecom handshake: connect with the ecom client of this version');
    }
    const clientNonce = f.subarray(1, 1 + NONCE_BYTES);
    if (!timingSafeEqual(mac(this.secret, 'client', this.purpose, this.ownNonce, clientNonce), f.subarray(1 + NONCE_BYTES))) {
      return this.fail("it does not hold this cluster's secret", "this process does not hold the cluster's secret (see --cluster-secret)");
    }
    this.socket.write(frame(WELCOME, mac(this.secret, 'server', this.purpose, this.ownNonce, clientNonce)));
    return 'done';
  }

  private onServerFrame(f: Buffer): Verdict {
    if (f[0] === REFUSED) return this.fail(`the replica refused the connection: ${f.subarray(1).toString('utf8')}`);
    if (this.serverNonce === undefined && f.length === 1 + NONCE_BYTES && f[0] === HELLO) {
      this.serverNonce = f.subarray(1);
      this.clientNonce = this.ownNonce;
      this.socket.write(frame(PROOF, this.clientNonce, mac(this.secret, 'client', this.purpose, this.serverNonce, this.clientNonce)));
      return 'wait';
    }
    if (this.serverNonce !== undefined && this.clientNonce !== undefined && f.length === 1 + MAC_BYTES && f[0] === WELCOME) {
      if (timingSafeEqual(mac(this.secret, 'server', this.purpose, this.serverNonce, this.clientNonce), f.subarray(1))) return 'done';
      return this.fail("the process on that port does not hold this cluster's secret (another cluster, or not a replica)");
    }
    return this.fail('the process on that port does not speak the ecom handshake');
  }
}
