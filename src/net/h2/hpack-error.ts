/**
 * A header block that cannot be decoded: HTTP/2 calls this a COMPRESSION_ERROR, and because the
 * decoder's dynamic table is now out of step with the peer's encoder, the whole connection has to
 * be closed, not only the stream that carried the block.
 */
export class HpackError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HpackError';
  }
}
