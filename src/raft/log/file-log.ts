// The durable write-ahead log: append-only segment files of checksummed records holding both
// entries and hard state, so that one fdatasync per batch (group commit) makes all of it durable.
//
// Recovery replays every segment. A damaged record at the very end of the last segment is a torn
// write from a crash — it was never acknowledged — and is cut off. Damage anywhere else means the
// disk lost data we had synced: we refuse to start and name the file and offset.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Entry, HardState } from '../types.js';
import type { DurableLog, SyncDone } from './interfaces.js';
import { ZERO_HARD_STATE } from './interfaces.js';
import { HEADER_BYTES, encodeRecord, parseRecord, recordBytes, writeRecord } from './records.js';
import type { LogRecord } from './records.js';
import { assert, defined } from '../../util/assert.js';

export class CorruptLogError extends Error {
  constructor(
    readonly file: string,
    readonly offset: number,
    reason: string,
  ) {
    super(`corrupt raft log: ${file} at byte offset ${offset}: ${reason}`);
    this.name = 'CorruptLogError';
  }
}

export interface FileLogOptions {
  /** A new segment is started once the current one reaches this size. */
  readonly segment_bytes: number;
  /** Bound on bytes buffered between two sync() calls. */
  readonly max_unsynced_bytes: number;
  /** How written bytes are made durable (fdatasync unless a chaos run plants a fault here). */
  readonly disk?: DiskSync;
}

/**
 * Makes what was written to `fd` durable; `file` and `size_bytes` say how far the file now
 * reaches. `syncAsync` does it off the event loop and calls `done` once it has (with the error
 * when it has not).
 */
export interface DiskSync {
  sync(fd: number, file: string, size_bytes: number): void;
  syncAsync(fd: number, file: string, size_bytes: number, done: (err: Error | undefined) => void): void;
}

export const FDATASYNC: DiskSync = {
  sync: (fd) => fs.fdatasyncSync(fd),
  // libuv runs it on its thread pool; the event loop serves peers and clients meanwhile.
  syncAsync: (fd, _file, _size, done) => fs.fdatasync(fd, (err) => done(err ?? undefined)),
};

export const DEFAULT_FILE_LOG_OPTIONS: FileLogOptions = { segment_bytes: 64 << 20, max_unsynced_bytes: 256 << 20 };

const SEGMENT_RE = /^wal-(\d{16})\.log$/;
const segmentName = (seq: number): string => `wal-${String(seq).padStart(16, '0')}.log`;

interface Segment {
  seq: number;
  file: string;
  /** Highest entry index written into this segment (0 if none). */
  maxIndex: number;
}

export class FileLog implements DurableLog {
  private compacted = 0;
  private entries_: Entry[] = [];
  private hs: HardState = ZERO_HARD_STATE;
  private segments: Segment[] = [];
  private fd = -1;
  private size_bytes = 0;
  private pending: Buffer[] = [];
  private pending_bytes = 0;
  private pendingMaxIndex = 0;
  /** fdatasyncs running on the thread pool: the file is neither rolled nor closed under them. */
  private syncsInFlight = 0;
  private closeWhenSynced = false;
  /**
   * The highest compaction written to the file, with the segment it is in, and the highest one a
   * finished fdatasync covers: segments before that one and wholly below that index can go.
   */
  private writtenCompaction = { index: 0, seq: 0 };
  private durableCompaction = { index: 0, seq: 0 };
  /** A compaction (a marker, or a segment's header) waiting in `pending` to be written. */
  private pendingCompaction: number | undefined;
  /** The next segment, created (empty, its name durable) off the event loop while this one fills. */
  private next: { readonly seq: number; readonly file: string; readonly fd: number } | 'preparing' | undefined;
  /** Segment deletions (unlinks, then the folder's fsync) running on the thread pool. */
  private deleting: Promise<void> | undefined;
  private deleteAgain = false;
  /** Recovery facts, for operators and tests. */
  truncatedTail: { file: string; offset: number; reason: string } | undefined;

  private readonly disk: DiskSync;

  private constructor(
    readonly dir: string,
    private readonly opts: FileLogOptions,
  ) {
    this.disk = opts.disk ?? FDATASYNC;
  }

  static open(dir: string, opts: FileLogOptions = DEFAULT_FILE_LOG_OPTIONS): FileLog {
    fs.mkdirSync(dir, { recursive: true });
    const log = new FileLog(dir, opts);
    log.recover();
    return log;
  }

  // ---- LogStore / StableStore -----------------------------------------------------------------

  firstIndex(): number {
    return this.compacted + 1;
  }

  lastIndex(): number {
    return this.compacted + this.entries_.length;
  }

  entries(lo: number, hi: number): Entry[] {
    assert(lo > this.compacted && hi <= this.lastIndex(), `entries [${lo}, ${hi}] not retained`);
    return this.entries_.slice(lo - this.compacted - 1, hi - this.compacted);
  }

  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    // One buffer for the whole batch: no per-record allocation on the hot path.
    const records = entries.map((entry): LogRecord => ({ type: 'entry', entry }));
    let size = 0;
    for (const r of records) size += recordBytes(r);
    this.reserve(size);
    const buf = Buffer.allocUnsafe(size);
    let at = 0;
    for (const r of records) {
      const e = (r as { entry: Entry }).entry;
      this.applyEntry(e);
      at = writeRecord(buf, at, r);
      if (e.index > this.pendingMaxIndex) this.pendingMaxIndex = e.index;
    }
    this.pending.push(buf);
    this.pending_bytes += size;
  }

  hardState(): HardState {
    return this.hs;
  }

  setHardState(hs: HardState): void {
    this.hs = hs;
    this.write({ type: 'hardState', hs });
  }

  resetTo(index: number): void {
    this.compacted = index;
    this.entries_ = [];
    this.write({ type: 'reset', index });
  }

  /**
   * Forgets entries ≤ index. The segments it covers are deleted once the marker is durable (by
   * the next fdatasync, whoever asks for it), so recovery never finds a gap it cannot explain,
   * and the unlinks and the folder's fsync run on the thread pool: a compaction never holds the
   * event loop on the disk.
   */
  compact(index: number): void {
    if (index <= this.compacted) return;
    this.entries_ = this.entries_.slice(Math.min(index - this.compacted, this.entries_.length));
    this.compacted = index;
    this.write({ type: 'compact', index });
    this.pendingCompaction = index;
  }

  /** Group commit: one write and one fdatasync for everything since the last sync. */
  sync(): void {
    // With nothing new written an fdatasync is still owed when one under way covers earlier writes.
    if (!this.writePending() && this.syncsInFlight === 0) return;
    const file = this.currentFile();
    const covers = this.writtenCompaction;
    try {
      this.disk.sync(this.fd, file, this.size_bytes);
    } catch (err) {
      throw untrusted(file, err);
    }
    this.afterSync(covers);
  }

  /**
   * Group commit off the event loop: the batch is written now (a full disk throws here, the batch
   * kept for the next try), the fdatasync runs on the thread pool and `done` hears when it is over.
   */
  syncAsync(done: SyncDone): void {
    if (!this.writePending() && this.syncsInFlight === 0) return done(undefined);
    const file = this.currentFile();
    const covers = this.writtenCompaction;
    this.syncsInFlight++;
    this.disk.syncAsync(this.fd, file, this.size_bytes, (err) => {
      this.syncsInFlight--;
      if (this.closeWhenSynced) {
        if (this.syncsInFlight === 0) this.close();
        return done(err === undefined ? undefined : untrusted(file, err));
      }
      if (err !== undefined) return done(untrusted(file, err));
      this.afterSync(covers);
      done(undefined);
    });
  }

  /** Closes the file, once the fdatasyncs under way on it are over. */
  close(): void {
    if (this.syncsInFlight > 0) {
      this.closeWhenSynced = true;
      return;
    }
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
    // A segment made ready and never switched to: empty, so it goes (recovery would restate the
    // header into it anyway).
    if (this.next !== undefined && this.next !== 'preparing') {
      fs.closeSync(this.next.fd);
      fs.rmSync(this.next.file, { force: true });
    }
    this.next = undefined;
  }

  /** Settles once the segment deletions under way are over (for tests: a stop does not wait for them). */
  async settled(): Promise<void> {
    while (this.deleting !== undefined) await this.deleting;
  }

  segmentFiles(): string[] {
    return this.segments.map((s) => s.file);
  }

  // ---- internals --------------------------------------------------------------------------------

  /** Writes what was buffered since the last sync to the file; false when there was nothing. */
  private writePending(): boolean {
    if (this.pending.length === 0) return false;
    const buf = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pending_bytes);
    try {
      writeFully(this.fd, buf, this.size_bytes);
    } catch (err) {
      // A full or failing disk: cut off whatever part of the batch reached the file and keep the
      // batch, so that a later sync() writes it whole. (Should the cut fail too, recovery drops a
      // torn tail anyway.)
      try {
        fs.ftruncateSync(this.fd, this.size_bytes);
      } catch {
        // nothing more to do here; see above
      }
      throw err;
    }
    this.size_bytes += buf.length;
    const seg = this.segments[this.segments.length - 1]!;
    if (this.pendingCompaction !== undefined && this.pendingCompaction >= this.writtenCompaction.index) this.writtenCompaction = { index: this.pendingCompaction, seq: seg.seq };
    this.pendingCompaction = undefined;
    if (this.pendingMaxIndex > seg.maxIndex) seg.maxIndex = this.pendingMaxIndex;
    this.pending = [];
    this.pending_bytes = 0;
    this.pendingMaxIndex = 0;
    return true;
  }

  private currentFile(): string {
    return this.segments[this.segments.length - 1]!.file;
  }

  /**
   * After an fdatasync that covered the writes up to `covers`: deletes what a durable compaction
   * covers, and once the segment is full, gets the next one ready or moves to it (only with no
   * fdatasync running on this one, so every write in it is durable before it is left).
   */
  private afterSync(covers: { index: number; seq: number }): void {
    const durable = this.durableCompaction;
    if (covers.index > durable.index || (covers.index === durable.index && covers.seq > durable.seq)) this.durableCompaction = covers;
    this.deleteCompacted();
    if (this.size_bytes < this.opts.segment_bytes || this.syncsInFlight > 0 || this.fd < 0) return;
    if (this.next === undefined) this.prepareNext();
    else if (this.next !== 'preparing') this.switchToNext(this.next);
  }

  /**
   * Creates the next segment on the thread pool and makes its name durable, so that the event
   * loop never waits on the disk for it. Empty until switched to: a crash leaves an empty last
   * segment, which recovery fills with the header.
   */
  private prepareNext(): void {
    const seq = (this.segments[this.segments.length - 1]?.seq ?? 0) + 1;
    const file = path.join(this.dir, segmentName(seq));
    this.next = 'preparing';
    fs.open(file, 'wx', (openErr, fd) => {
      if (openErr !== null) return void (this.next = undefined); // tried again after the next fdatasync
      fsyncDirAsync(this.dir, (syncErr) => {
        if (this.fd < 0) {
          // Closed meanwhile: another FileLog may own the folder by now and have taken this very
          // name for its own segment, so the file is not ours to remove. Left empty, it is what a
          // crash here leaves, and recovery restates the header into it.
          fs.close(fd, () => undefined);
          return;
        }
        if (this.next !== 'preparing' || syncErr !== undefined) {
          fs.close(fd, () => fs.rm(file, { force: true }, () => undefined));
          if (this.next === 'preparing') this.next = undefined;
          return;
        }
        this.next = { seq, file, fd };
      });
    });
  }

  /**
   * Moves writing to the next segment. Its header (hard state and compaction) goes first, ahead
   * of whatever waits to be written: older segments may be deleted only once it is durable,
   * which the compaction marker's rule ensures (the marker is written after it).
   */
  private switchToNext(next: { seq: number; file: string; fd: number }): void {
    fs.closeSync(this.fd);
    this.fd = next.fd;
    this.segments.push({ seq: next.seq, file: next.file, maxIndex: 0 });
    this.size_bytes = 0;
    this.next = undefined;
    this.writeHeaderFirst();
  }

  private writeHeaderFirst(): void {
    const header = this.header();
    this.pending.unshift(header);
    this.pending_bytes += header.length;
    this.pendingCompaction = Math.max(this.pendingCompaction ?? 0, this.compacted);
  }

  /** What opens every segment: the hard state and the compaction, so that older ones can be deleted. */
  private header(): Buffer {
    return Buffer.concat([encodeRecord({ type: 'hardState', hs: this.hs }), encodeRecord({ type: 'compact', index: this.compacted })]);
  }

  /**
   * Deletes the segments before the one holding the durable compaction marker whose entries it
   * all covers: that segment's header (written before the marker, so durable too) restates the
   * hard state they held. One deletion at a time, oldest first, on the thread pool.
   */
  private deleteCompacted(): void {
    if (this.deleting !== undefined) {
      this.deleteAgain = true;
      return;
    }
    const { index, seq } = this.durableCompaction;
    const going: Segment[] = [];
    while (this.segments.length > 1 && this.segments[0]!.seq < seq && this.segments[0]!.maxIndex <= index) going.push(...this.segments.splice(0, 1));
    if (going.length === 0) return;
    this.deleting = (async () => {
      for (const seg of going) await fs.promises.rm(seg.file, { force: true });
      await new Promise<void>((resolve) => fsyncDirAsync(this.dir, () => resolve()));
    })()
      // A segment that could not be deleted is read again, harmlessly, at the next start.
      .catch(() => undefined)
      .finally(() => {
        this.deleting = undefined;
        if (this.deleteAgain) {
          this.deleteAgain = false;
          this.deleteCompacted();
        }
      });
  }

  private write(r: LogRecord): void {
    const buf = encodeRecord(r);
    this.reserve(buf.length);
    this.pending.push(buf);
    this.pending_bytes += buf.length;
  }

  private reserve(size_bytes: number): void {
    assert(this.fd >= 0, 'log is closed');
    if (this.pending_bytes + size_bytes > this.opts.max_unsynced_bytes) {
      throw new Error(`raft log: more than ${this.opts.max_unsynced_bytes} bytes written without sync()`);
    }
  }

  private applyEntry(e: Entry): void {
    assert(e.index > this.compacted, () => `append at ${e.index} into compacted prefix ${this.compacted}`);
    assert(e.index <= this.lastIndex() + 1, () => `append at ${e.index} leaves a gap after ${this.lastIndex()}`);
    this.entries_.length = e.index - this.compacted - 1;
    this.entries_.push(e);
  }

  /** Starts the first segment of a new log, durable before anything is written to it. */
  private createFirstSegment(): void {
    const seq = (this.segments[this.segments.length - 1]?.seq ?? 0) + 1;
    const file = path.join(this.dir, segmentName(seq));
    const header = this.header();
    // The new segment is complete and durable before it replaces the current one: a disk that
    // fails half way leaves the log as it was.
    const fd = fs.openSync(file, 'wx');
    try {
      writeFully(fd, header, 0);
      this.disk.sync(fd, file, header.length);
      fsyncDir(this.dir);
    } catch (err) {
      fs.closeSync(fd);
      fs.rmSync(file, { force: true });
      throw err;
    }
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = fd;
    this.segments.push({ seq, file, maxIndex: 0 });
    this.size_bytes = header.length;
  }


  // One pass over the record stream whose replay state (compaction, gaps, the torn tail) is
  // shared by every record kind: split, it would be spread over fields that exist only here.
  // eslint-disable-next-line max-lines-per-function
  private recover(): void {
    const names = fs
      .readdirSync(this.dir)
      .filter((n) => SEGMENT_RE.test(n))
      .sort();
    // Replay state: entries may start after a gap only where a compaction explains it. The gap
    // is remembered with where it was seen, so a refusal names the segment that came up short.
    let gapUpTo = 0;
    let gapSeen = { file: this.dir, offset: 0, after: '' };
    for (let i = 0; i < names.length; i++) {
      const name = names[i]!;
      const file = path.join(this.dir, name);
      const seq = Number(defined(SEGMENT_RE.exec(name), () => `segment number in ${name}`)[1]);
      const seg: Segment = { seq, file, maxIndex: 0 };
      const buf = fs.readFileSync(file);
      const isLast = i === names.length - 1;
      let at = 0;
      while (at < buf.length) {
        const r = parseRecord(buf, at);
        if (!r.ok) {
          if (isLast && isTornTail(buf, at, r.truncated)) {
            this.truncatedTail = { file, offset: at, reason: r.reason };
            fs.truncateSync(file, at);
            const fd = fs.openSync(file, 'r+');
            fs.fdatasyncSync(fd);
            fs.closeSync(fd);
            break;
          }
          throw new CorruptLogError(file, at, r.reason);
        }
        const rec = r.record;
        switch (rec.type) {
          case 'entry': {
            const e = rec.entry;
            if (e.index <= this.compacted) break;
            if (e.index > this.lastIndex() + 1) {
              // Entries before this one lived in deleted segments: only fine if compacted.
              if (e.index - 1 > gapUpTo) {
                const previous = this.segments[this.segments.length - 1];
                gapSeen = { file, offset: at, after: previous === undefined ? '' : `, after ${path.basename(previous.file)} ended at entry ${this.lastIndex()}` };
              }
              gapUpTo = Math.max(gapUpTo, e.index - 1);
              this.entries_ = [];
              this.compacted = e.index - 1;
            }
            this.applyEntry(e);
            if (e.index > seg.maxIndex) seg.maxIndex = e.index;
            break;
          }
          case 'hardState':
            this.hs = rec.hs;
            break;
          case 'compact':
            if (rec.index > this.compacted) {
              this.entries_ = this.entries_.slice(Math.min(rec.index - this.compacted, this.entries_.length));
              this.compacted = rec.index;
            }
            gapUpTo = rec.index >= gapUpTo ? 0 : gapUpTo;
            break;
          case 'reset':
            this.entries_ = [];
            this.compacted = rec.index;
            gapUpTo = 0;
            break;
        }
        at = r.next;
      }
      this.segments.push(seg);
    }
    if (gapUpTo > 0) {
      throw new CorruptLogError(gapSeen.file, gapSeen.offset, `entries up to ${gapUpTo} are missing${gapSeen.after} and no compaction covers them`);
    }
    const last = this.segments[this.segments.length - 1];
    if (last === undefined) {
      this.createFirstSegment();
    } else {
      this.fd = fs.openSync(last.file, 'a');
      this.size_bytes = fs.fstatSync(this.fd).size;
      // A segment made ready and never written (a crash between the two): it opens with the header
      // like any other, written with the first sync.
      if (this.size_bytes === 0) this.writeHeaderFirst();
    }
  }
}

/**
 * A damaged record in the last segment is a torn write unless the record right after it (where
 * its intact length field says the next one starts) is valid: then the damage sits inside data we
 * may have acknowledged, and only an operator should decide what to do.
 */
function isTornTail(buf: Buffer, at: number, truncated: boolean): boolean {
  if (truncated) return true;
  const next = at + HEADER_BYTES + buf.readUInt32LE(at);
  if (next >= buf.length) return true;
  return !parseRecord(buf, next).ok;
}

/** Writes all of `buf` at `position` (appended at the end for a file opened to append). */
function writeFully(fd: number, buf: Buffer, position: number): void {
  let off = 0;
  while (off < buf.length) off += fs.writeSync(fd, buf, off, buf.length - off, position + off);
}

/**
 * After a failed fdatasync the kernel may have dropped the dirty pages while the file looks
 * written: nothing written since the last good sync can be trusted, so this is not a fault to
 * wait out (PostgreSQL stops on it for the same reason).
 */
function untrusted(file: string, err: unknown): Error {
  return new Error(`raft log: fdatasync of ${file} failed (${(err as Error).message}); what was written since the last sync cannot be trusted`);
}

/** fsyncDir on the thread pool; `done` hears the error, if any. */
function fsyncDirAsync(dir: string, done: (err: Error | undefined) => void): void {
  fs.open(dir, 'r', (openErr, fd) => {
    if (openErr !== null) return done(openErr);
    fs.fsync(fd, (syncErr) => fs.close(fd, () => done(syncErr ?? undefined)));
  });
}

/**
 * Replaces `file` with `text` durably: written beside it, fsynced, renamed over it, and the folder
 * fsynced, so a crash leaves the old content or the whole new one (small files: pointers, markers).
 */
export function replaceFileDurably(file: string, text: string): void {
  const temporary = `${file}.tmp`;
  fs.writeFileSync(temporary, text);
  const fd = fs.openSync(temporary, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(temporary, file);
  fsyncDir(path.dirname(file));
}

export function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
