/** gRPC's length-prefixed message: a compression flag byte and a 4-byte big-endian length. */
export const PREFIX_BYTES = 5;

/** A message's 5-byte prefix: flag 0 (not compressed) or 1, then its length. */
export function messagePrefix(length: number, compressed = false): Buffer {
  const prefix = Buffer.allocUnsafe(PREFIX_BYTES);
  prefix[0] = compressed ? 1 : 0;
  prefix.writeUInt32BE(length, 1);
  return prefix;
}

/**
 * Cuts the length-prefixed messages of one gRPC call out of its DATA as it arrives (both the
 * client's replies and the server's requests). A message announced over `maxMessage` throws what
 * `tooLarge` makes, before its bytes are held.
 */
export class MessageReader {
  private readonly chunks: Buffer[] = [];
  /** Bytes held and not yet part of a whole message. */
  buffered = 0;
  /** The length of the message being read, once its prefix has come. */
  announced: number | undefined;
  private compressed = false;

  constructor(
    private readonly maxMessage: number,
    private readonly tooLarge: (announced: number) => Error,
  ) {}

  push(chunk: Buffer, onMessage: (bytes: Buffer, compressed: boolean) => void): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    for (;;) {
      if (this.announced === undefined) {
        if (this.buffered < PREFIX_BYTES) return;
        const prefix = this.take(PREFIX_BYTES);
        this.compressed = prefix[0] !== 0;
        this.announced = prefix.readUInt32BE(1);
        if (this.announced > this.maxMessage) throw this.tooLarge(this.announced);
      }
      if (this.buffered < this.announced) return;
      const bytes = this.take(this.announced);
      this.announced = undefined;
      onMessage(bytes, this.compressed);
    }
  }

  /** Whether a message was cut short: part of a prefix or of a message is held. */
  get partial(): boolean {
    return this.announced !== undefined || this.buffered > 0;
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
