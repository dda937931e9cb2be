/**
 * The frames of the visibility floor (src/bench/visibility-floor.ts): the same hops as mqtt
 * mode's visibility probe between the same number of processes, with nothing done at any hop.
 * Written by hand because it is meant to cost nothing: a frame is a kind byte and a 32-bit id.
 */
export const FLOOR_FRAME_BYTES = 5;

export const FloorKind = {
  /** probe → portal: publish this id; answer WRITTEN once the broker has sent it back. */
  write: 1,
  /** probe → portal: has this id come from the broker? FOUND or NOT_FOUND. */
  read: 2,
  /** portal → broker, and broker → every connection. */
  publish: 3,
  written: 4,
  found: 5,
  notFound: 6,
  /** portal → probe: a write refused because the stand-in's bounds are reached (nothing was published). */
  refused: 7,
} as const;
export type FloorKindCode = (typeof FloorKind)[keyof typeof FloorKind];

export function floorFrame(kind: FloorKindCode, id: number): Buffer {
  const frame = Buffer.allocUnsafe(FLOOR_FRAME_BYTES);
  frame.writeUInt8(kind, 0);
  frame.writeUInt32BE(id, 1);
  return frame;
}

/** What a reader keeps between chunks when no frame is cut: one shared empty buffer, not one per chunk. */
const NOTHING_KEPT = Buffer.alloc(0);

/**
 * Cuts a byte stream into frames, keeping a partial frame for the next chunk. A kind outside
 * `accepted` is refused: `onFrame` is not called for it or anything after it, and the reader
 * returns the reason so that the caller closes the connection.
 */
export class FloorFrameReader {
  private partial: Buffer = NOTHING_KEPT;
  private broken: string | undefined;

  constructor(
    private readonly accepted: ReadonlySet<number>,
    private readonly onFrame: (kind: FloorKindCode, id: number) => void,
  ) {}

  /** Feeds a chunk; returns why the stream is refused, or undefined while it is well formed. */
  push(chunk: Buffer): string | undefined {
    if (this.broken !== undefined) return this.broken;
    const bytes = this.partial.length === 0 ? chunk : Buffer.concat([this.partial, chunk]);
    let at = 0;
    for (; at + FLOOR_FRAME_BYTES <= bytes.length; at += FLOOR_FRAME_BYTES) {
      const kind = bytes.readUInt8(at);
      if (!this.accepted.has(kind)) {
        this.broken = `a frame of kind ${kind} where only ${[...this.accepted].join(', ')} may come`;
        return this.broken;
      }
      this.onFrame(kind as FloorKindCode, bytes.readUInt32BE(at + 1));
    }
    this.partial = at === bytes.length ? NOTHING_KEPT : Buffer.from(bytes.subarray(at));
    return undefined;
  }
}
