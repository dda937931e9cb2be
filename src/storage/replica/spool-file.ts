import { closeSync, fdatasync, openSync, renameSync, unlinkSync, write } from 'node:fs';
import { crc32 } from 'node:zlib';
import { assert } from '../../util/assert.js';

// The bytes of a transfer written to disk as they arrive (message-chunks.ts): a store file a
// leader sends is hundreds of MB. Held whole in memory and written once it was all in, its
// write followed its transfer (the largest stage of a catch-up at 1,000,000 records), and one
// transfer could not be bigger than memory allows. Here each piece is written where it belongs
// while the next ones travel, its CRC-32 is taken in order as it comes, and the file is made
// durable in steps beside the writes so that the last step is short.
// Written by hand: a queue of positioned writes on one descriptor, which no library does better.

/** A file received whole, written and checksummed, for its receiver to keep or discard. */
export interface ReceivedFile {
  readonly bytes: number;
  /** CRC-32 of the file's bytes, taken as they arrived. */
  readonly crc: number;
  /** Where the time of receiving it went: writing to the OS, making durable beside the writes, and the connection held back while writes were behind. */
  readonly timing: { readonly write_ms: number; readonly sync_ms: number; readonly held_ms: number };
  /** Makes the file durable under `path` (on the same file system) and lets go of it. */
  keepAs(path: string): Promise<void>;
  /** Closes and removes the file; nothing else is needed of a file no one keeps. */
  discard(): void;
}

/** Written and made durable every this many bytes, so the last fdatasync has little left to write. */
const SYNC_EVERY_BYTES = 32 << 20;

/** A file being received: written piece by piece, in order or again from where a piece began. */
export class SpoolFile {
  private fd: number | undefined;
  private chain: Promise<void> = Promise.resolve();
  private failure: Error | undefined;
  /** Bytes handed to write() and not written yet: what the receiver holds in memory for this file. */
  queued = 0;
  private sinceSync = 0;
  /** CRC-32 of bytes [0, at) for each `at` a piece started at, so a resent piece takes the CRC back to where it begins. */
  private readonly crcAt = new Map<number, number>([[0, 0]]);
  private crc = 0;
  private end = 0;
  private waiters: Array<() => void> = [];
  /** The fdatasync under way beside the writes, if one is. */
  private syncing: Promise<void> | undefined;
  private readonly timing = { write_ms: 0, sync_ms: 0, held_ms: 0 };

  constructor(readonly path: string) {
    this.fd = openSync(path, 'wx');
  }

  /**
   * Writes `bytes` at `position`: the end of what was written so far, or the start of an
   * earlier piece (a transfer resumed from its last acknowledgement sends those again, and
   * everything after them with them).
   */
  write(bytes: Uint8Array, position: number): void {
    const crcBefore = this.crcAt.get(position);
    assert(crcBefore !== undefined, () => `a spooled file is written at ${position}, which is neither its end (${this.end}) nor where a piece began`);
    if (position < this.end) for (const at of this.crcAt.keys()) if (at > position) this.crcAt.delete(at);
    this.crc = crc32(bytes, crcBefore);
    this.end = position + bytes.length;
    this.crcAt.set(this.end, this.crc);
    this.queued += bytes.length;
    this.sinceSync += bytes.length;
    const syncAfter = this.sinceSync >= SYNC_EVERY_BYTES;
    if (syncAfter) this.sinceSync = 0;
    this.then(async (fd) => {
      const started = performance.now();
      await writeAll(fd, bytes, position);
      this.timing.write_ms += performance.now() - started;
      if (syncAfter) this.syncBeside(fd);
    }, bytes.length);
  }

  /**
   * Makes what is written so far durable beside the writes that follow, not in their way: the
   * writes are what the transfer waits for. One at a time; one asked for while another runs is
   * left to the next, or to the last one when the file is kept.
   */
  private syncBeside(fd: number): void {
    if (this.syncing !== undefined) return;
    const started = performance.now();
    this.syncing = datasync(fd).then(
      () => {
        this.timing.sync_ms += performance.now() - started;
        this.syncing = undefined;
      },
      (err: unknown) => {
        this.failure ??= new Error(`cannot make a received file durable at ${this.path}: ${(err as Error).message}`);
        this.syncing = undefined;
      },
    );
  }

  /** Resolves once at most `bytes` wait to be written. */
  async below(bytes: number): Promise<void> {
    const started = performance.now();
    while (this.queued > bytes && this.fd !== undefined && this.failure === undefined) await new Promise<void>((resolve) => this.waiters.push(resolve));
    this.timing.held_ms += performance.now() - started;
  }

  /** Once every write is done: the file, `bytes` long, to keep or discard. */
  async finish(bytes: number): Promise<ReceivedFile> {
    assert(bytes === this.end, () => `a spooled file finished at ${bytes} bytes holds ${this.end}`);
    await this.chain;
    await this.syncing;
    if (this.failure !== undefined) {
      this.discard();
      throw this.failure;
    }
    const crc = this.crc;
    const round = (ms: number) => Math.round(ms);
    return {
      bytes,
      crc,
      timing: { write_ms: round(this.timing.write_ms), sync_ms: round(this.timing.sync_ms), held_ms: round(this.timing.held_ms) },
      keepAs: async (path) => {
        this.then(async (fd) => {
          await this.syncing;
          await datasync(fd);
          renameSync(this.path, path);
          this.closeFd();
        }, 0);
        await this.chain;
        if (this.failure !== undefined) {
          this.discard();
          throw this.failure;
        }
      },
      discard: () => this.discard(),
    };
  }

  /** Closes and removes the file once the writes already queued are done; later writes are dropped. */
  discard(): void {
    this.failure ??= new Error('the file was discarded');
    void this.chain.then(async () => {
      await this.syncing;
      if (this.fd === undefined) return;
      this.closeFd();
      try {
        unlinkSync(this.path);
      } catch {
        // Already gone: the folder was cleared.
      }
    });
  }

  private then(step: (fd: number) => Promise<void>, bytes: number): void {
    this.chain = this.chain.then(async () => {
      const fd = this.fd;
      try {
        if (this.failure === undefined && fd !== undefined) await step(fd);
      } catch (err) {
        this.failure = new Error(`cannot write a received file at ${this.path}: ${(err as Error).message}`);
      } finally {
        this.queued -= bytes;
        for (const wake of this.waiters.splice(0)) wake();
      }
    });
  }

  private closeFd(): void {
    if (this.fd === undefined) return;
    const fd = this.fd;
    this.fd = undefined;
    closeSync(fd);
  }
}

function writeAll(fd: number, bytes: Uint8Array, position: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const step = (at: number): void =>
      write(fd, bytes, at, bytes.length - at, position + at, (err, written) => {
        if (err !== null) return reject(err);
        if (at + written < bytes.length) return step(at + written);
        resolve();
      });
    step(0);
  });
}

function datasync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fdatasync(fd, (err) => (err === null ? resolve() : reject(err))));
}
