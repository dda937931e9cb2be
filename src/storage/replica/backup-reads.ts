import { BACKUP_PIECE_BYTES } from '../common/backup-format.js';
import type { OpenCopy } from './snapshot-copies.js';

/**
 * The copies of its partition a replica made for `ecom backup`, while the command reads them
 * in pieces ('backupRead'). A copy is an unlinked file (snapshot-copies.ts, openCopyFile): its
 * disk space is the partition's records, freed when it is closed. So one is kept at a time, and
 * one nobody has read from for IDLE_MS (a backup killed half way) is closed by itself.
 */
const IDLE_MS = 60_000;

export type PieceAnswer = { readonly ok: true; readonly data: Uint8Array } | { readonly ok: false; readonly message: string };

export class BackupReads {
  private open: { readonly number: number; readonly copy: OpenCopy; readonly since_ms: number; timer: NodeJS.Timeout } | undefined;
  private last = 0;

  constructor(private readonly replica: number) {}

  /** Why no copy can be made now, or undefined: a second backup waits for the first. */
  busy(now_ms: number): string | undefined {
    if (this.open === undefined) return undefined;
    const age_s = Math.round((now_ms - this.open.since_ms) / 1000);
    return `replica ${this.replica} is still being read by another backup (started ${age_s} s ago); it is closed when read to its end, or after ${IDLE_MS / 1000} s without a read`;
  }

  /** Keeps `copy` to be read; its number for 'backupRead'. */
  add(copy: OpenCopy, now_ms: number): number {
    if (this.open !== undefined) throw new Error(`replica ${this.replica} keeps one backup copy at a time`);
    const number = ++this.last;
    this.open = { number, copy, since_ms: now_ms, timer: this.idleTimer() };
    return number;
  }

  /** Bytes of copy `number` from `offset` (at most BACKUP_PIECE_BYTES); the last piece closes the copy. */
  async read(number: number, offset: number): Promise<PieceAnswer> {
    const open = this.open;
    if (open === undefined || open.number !== number) {
      return { ok: false, message: `replica ${this.replica} holds no backup copy ${number} (it was read to its end, left unread for ${IDLE_MS / 1000} s, or the replica restarted); nothing was changed, run ecom backup again` };
    }
    const { bytes } = open.copy;
    if (offset > bytes) return { ok: false, message: `backup copy ${number} has ${bytes} bytes; there is nothing at ${offset}` };
    clearTimeout(open.timer);
    open.timer = this.idleTimer();
    const data = new Uint8Array(Math.min(BACKUP_PIECE_BYTES, bytes - offset));
    try {
      await open.copy.read(data, offset);
    } catch (err) {
      this.close();
      return { ok: false, message: `replica ${this.replica} could not read backup copy ${number} (${(err as Error).message}); nothing was changed, run ecom backup again` };
    }
    if (offset + data.length === bytes) this.close();
    return { ok: true, data };
  }

  close(): void {
    const open = this.open;
    if (open === undefined) return;
    this.open = undefined;
    clearTimeout(open.timer);
    // Closing frees the file's space; a failure to close leaves nothing more to do.
    open.copy.close().catch(() => undefined);
  }

  private idleTimer(): NodeJS.Timeout {
    return setTimeout(() => this.close(), IDLE_MS).unref();
  }
}
