import type { Socket } from 'node:net';
import { defined } from '../../util/assert.js';
import { DEFAULT_WINDOW, FLAG, forEachSetting, FRAME, FrameSplitter, FrameWriter, H2_ERROR, H2ConnectionError, MAX_WINDOW, SETTING, unpadded } from './frames.js';
import { HpackDecoder, HpackError, type HeaderField } from './hpack.js';

/** A header block (encoded, CONTINUATIONs included) or header list (decoded) larger than this ends the connection. */
export const MAX_HEADER_BYTES = 64 << 10;

/** A header block arriving in pieces (HEADERS, then CONTINUATION frames). */
interface BlockInProgress {
  readonly streamId: number;
  readonly endStream: boolean;
  readonly fragments: Buffer[];
  bytes: number;
}

/** What a stream's receive side needs for flow control. */
export interface ReceivingStream {
  readonly id: number;
  receiveWindow: number;
}

/**
 * What both of ecom's HTTP/2 endpoints do alike with what arrives (RFC 9113 §6): the lean client's
 * connection (src/client/h2-connection.ts) and the portals' server connection
 * (server-connection.ts). Frames are checked, header blocks assembled from their CONTINUATIONs and
 * decoded, SETTINGS applied and acknowledged, PINGs answered, connection windows kept; what
 * concerns streams goes to the side's own handlers. A protocol error ends the connection through
 * `connectionError`.
 */
export abstract class H2Endpoint {
  protected readonly out: FrameWriter;
  private readonly decoder = new HpackDecoder(4096, MAX_HEADER_BYTES);
  private readonly frames: FrameSplitter;
  private block: BlockInProgress | undefined;
  /** The peer's SETTINGS have arrived (its first frame must be SETTINGS). */
  protected settingsSeen = false;
  /** What this side may still send on the connection. */
  protected sendWindow = DEFAULT_WINDOW;
  /** What the peer may still send on the connection. */
  private receiveWindow = DEFAULT_WINDOW;
  /** The window each new stream starts with for sending, as the peer's SETTINGS say. */
  protected peerInitialWindow = DEFAULT_WINDOW;

  constructor(
    socket: Socket,
    /** 'server' or 'client': who is on the other end, for messages. */
    private readonly peer: 'server' | 'client',
    /** How far ahead the peer may send, per stream and on the connection. */
    protected readonly receiveWindowSize: number,
    oversizeHint: string,
  ) {
    this.out = new FrameWriter(socket);
    this.frames = new FrameSplitter(oversizeHint);
  }

  /** This side's SETTINGS (each a 16-bit id and 32-bit value) and the connection window it grants. */
  protected sendSettings(settings: ReadonlyArray<readonly [number, number]>): void {
    const payload = Buffer.alloc(6 * settings.length);
    settings.forEach(([id, value], i) => {
      payload.writeUInt16BE(id, 6 * i);
      payload.writeUInt32BE(value, 6 * i + 2);
    });
    this.out.frame(FRAME.settings, 0, 0, payload);
    this.out.windowUpdate(0, this.receiveWindowSize - DEFAULT_WINDOW);
    this.receiveWindow = this.receiveWindowSize;
  }

  /** Reads frames from the socket's bytes; a protocol error ends the connection. */
  protected readFrames(chunk: Buffer): void {
    try {
      this.frames.push(chunk, (type, flags, streamId, payload) => this.onFrame(type, flags, streamId, payload), () => this.isGone());
    } catch (err) {
      if (err instanceof H2ConnectionError) return this.connectionError(err);
      if (err instanceof HpackError) return this.connectionError(new H2ConnectionError(H2_ERROR.compression, `a header block that does not decode: ${err.message}`));
      throw err;
    }
  }

  protected abstract isGone(): boolean;
  protected abstract connectionError(err: H2ConnectionError): void;
  /** A DATA frame, already counted against the connection's window. */
  protected abstract onDataFrame(flags: number, streamId: number, payload: Buffer): void;
  protected abstract onHeaderBlock(streamId: number, endStream: boolean, fields: HeaderField[]): void;
  protected abstract onResetStream(streamId: number, code: number): void;
  protected abstract onGoaway(lastStreamId: number, code: number): void;
  /** A SETTINGS parameter other than the initial window, checked for range. */
  protected abstract onSetting(id: number, value: number): void;
  /** The peer's initial stream window moved by `delta`: every open stream's send window moves with it. */
  protected abstract onInitialWindowDelta(delta: number): void;
  protected abstract onStreamWindowUpdate(streamId: number, increment: number): void;
  /** Sends what the connection window now lets out. */
  protected abstract flushBlocked(): void;

  /** Counts a DATA frame (padding included) against a stream's window, granting more when half is used and more may come. */
  protected takeStreamWindow(stream: ReceivingStream, bytes: number, more: boolean): void {
    stream.receiveWindow -= bytes;
    if (stream.receiveWindow < 0) throw new H2ConnectionError(H2_ERROR.flowControl, `more data than stream ${stream.id}'s window allows`);
    if (more && stream.receiveWindow < this.receiveWindowSize / 2) {
      this.out.windowUpdate(stream.id, this.receiveWindowSize - stream.receiveWindow);
      stream.receiveWindow = this.receiveWindowSize;
    }
  }

  private onFrame(type: number, flags: number, streamId: number, payload: Buffer): void {
    if (!this.settingsSeen) {
      if (type !== FRAME.settings || (flags & FLAG.ack) !== 0) throw new H2ConnectionError(H2_ERROR.protocol, `its first frame is of type ${type}, not SETTINGS: not an HTTP/2 ${this.peer}`);
      this.settingsSeen = true;
    }
    if (this.block !== undefined && type !== FRAME.continuation) throw new H2ConnectionError(H2_ERROR.protocol, `a frame of type ${type} inside a header block`);
    switch (type) {
      case FRAME.data:
        return this.onData(flags, streamId, payload);
      case FRAME.headers:
        return this.onHeaders(flags, streamId, payload);
      case FRAME.continuation:
        return this.onContinuation(flags, streamId, payload);
      case FRAME.rstStream:
        if (payload.length !== 4) throw new H2ConnectionError(H2_ERROR.frameSize, 'an RST_STREAM that is not 4 bytes');
        return this.onResetStream(streamId, payload.readUInt32BE(0));
      case FRAME.settings:
        return this.onSettings(flags, streamId, payload);
      case FRAME.ping:
        if (streamId !== 0 || payload.length !== 8) throw new H2ConnectionError(H2_ERROR.protocol, 'a PING that is not 8 bytes on stream 0');
        if ((flags & FLAG.ack) === 0) this.out.frame(FRAME.ping, FLAG.ack, 0, Buffer.from(payload));
        return;
      case FRAME.goaway:
        if (streamId !== 0 || payload.length < 8) throw new H2ConnectionError(H2_ERROR.protocol, 'a malformed GOAWAY');
        return this.onGoaway(payload.readUInt32BE(0) & 0x7fffffff, payload.readUInt32BE(4));
      case FRAME.windowUpdate:
        return this.onWindowUpdate(streamId, payload);
      case FRAME.pushPromise:
        // Clients never push, and ecom's client refuses pushes in its SETTINGS.
        throw new H2ConnectionError(H2_ERROR.protocol, `a PUSH_PROMISE from a ${this.peer}`);
      case FRAME.priority:
        if (streamId === 0 || payload.length !== 5) throw new H2ConnectionError(H2_ERROR.protocol, 'a malformed PRIORITY frame');
        return;
      default:
        // Unknown frame types are ignored (RFC 9113 §4.1).
        return;
    }
  }

  private onData(flags: number, streamId: number, payload: Buffer): void {
    if (streamId === 0) throw new H2ConnectionError(H2_ERROR.protocol, 'DATA on stream 0');
    // Flow control counts the whole frame, padding included, whether or not the stream is still wanted.
    this.receiveWindow -= payload.length;
    if (this.receiveWindow < 0) throw new H2ConnectionError(H2_ERROR.flowControl, 'more data than the connection window allows');
    if (this.receiveWindow < this.receiveWindowSize / 2) {
      this.out.windowUpdate(0, this.receiveWindowSize - this.receiveWindow);
      this.receiveWindow = this.receiveWindowSize;
    }
    this.onDataFrame(flags, streamId, payload);
  }

  private onHeaders(flags: number, streamId: number, payload: Buffer): void {
    if (streamId === 0) throw new H2ConnectionError(H2_ERROR.protocol, 'HEADERS on stream 0');
    const fragment = unpadded(flags, payload, (flags & FLAG.priority) !== 0 ? 5 : 0);
    this.block = { streamId, endStream: (flags & FLAG.endStream) !== 0, fragments: [fragment], bytes: fragment.length };
    if ((flags & FLAG.endHeaders) !== 0) this.endBlock();
  }

  private onContinuation(flags: number, streamId: number, payload: Buffer): void {
    const block = this.block;
    if (block === undefined || block.streamId !== streamId) throw new H2ConnectionError(H2_ERROR.protocol, 'a CONTINUATION that continues no header block');
    block.fragments.push(payload);
    block.bytes += payload.length;
    if (block.bytes > MAX_HEADER_BYTES) throw new H2ConnectionError(H2_ERROR.enhanceYourCalm, `a header block over ${MAX_HEADER_BYTES} bytes`);
    if ((flags & FLAG.endHeaders) !== 0) this.endBlock();
  }

  private endBlock(): void {
    const block = defined(this.block, 'the header block being read');
    this.block = undefined;
    // Decoded whatever becomes of its stream: the decoder's table must follow the peer's encoder.
    const fields = this.decoder.decode(block.fragments.length === 1 ? block.fragments[0]! : Buffer.concat(block.fragments));
    this.onHeaderBlock(block.streamId, block.endStream, fields);
  }

  private onSettings(flags: number, streamId: number, payload: Buffer): void {
    if (streamId !== 0) throw new H2ConnectionError(H2_ERROR.protocol, 'SETTINGS on a stream');
    if ((flags & FLAG.ack) !== 0) {
      if (payload.length !== 0) throw new H2ConnectionError(H2_ERROR.frameSize, 'a SETTINGS acknowledgement with a payload');
      return;
    }
    forEachSetting(payload, (id, value) => {
      if (id === SETTING.initialWindowSize) {
        const delta = value - this.peerInitialWindow;
        this.peerInitialWindow = value;
        this.onInitialWindowDelta(delta);
      } else if (id === SETTING.maxFrameSize) this.out.peerMaxFrame = value;
      else this.onSetting(id, value);
    });
    this.out.frame(FRAME.settings, FLAG.ack, 0);
    this.flushBlocked();
  }

  private onWindowUpdate(streamId: number, payload: Buffer): void {
    if (payload.length !== 4) throw new H2ConnectionError(H2_ERROR.frameSize, 'a WINDOW_UPDATE that is not 4 bytes');
    const increment = payload.readUInt32BE(0) & 0x7fffffff;
    if (streamId !== 0) return this.onStreamWindowUpdate(streamId, increment);
    if (increment === 0) throw new H2ConnectionError(H2_ERROR.protocol, 'a WINDOW_UPDATE of 0');
    this.sendWindow += increment;
    if (this.sendWindow > MAX_WINDOW) throw new H2ConnectionError(H2_ERROR.flowControl, 'a connection window over 2^31-1');
    this.flushBlocked();
  }
}

/** A stream's send window after a WINDOW_UPDATE, refused past 2^31-1 (RFC 9113 §6.9.1). */
export function widenedWindow(window: number, increment: number, streamId: number): number {
  const widened = window + increment;
  if (widened > MAX_WINDOW) throw new H2ConnectionError(H2_ERROR.flowControl, `stream ${streamId}'s window over 2^31-1`);
  return widened;
}
