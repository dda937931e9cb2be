import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { BACKUP_PIECE_BYTES } from '../../src/storage/common/backup-format.js';
import { BackupReads } from '../../src/storage/replica/backup-reads.js';
import { openCopyFile } from '../../src/storage/replica/snapshot-copies.js';

/** The copies a replica keeps for `ecom backup` while it is read in pieces (src/storage/replica/backup-reads.ts). */
const work = mkdtempSync(join(tmpdir(), 'ecom-backup-reads-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
afterEach(() => vi.useRealTimers());

async function copyOf(bytes: Buffer, name: string) {
  const path = join(work, name);
  writeFileSync(path, bytes);
  const copy = await openCopyFile(path, bytes.length);
  // Opened and unlinked at once: a crash leaves no copy on disk.
  expect(existsSync(path)).toBe(false);
  return copy;
}

describe('backup copies on a replica', () => {
  it('reads a copy in pieces to its end, then closes it; one copy at a time', async () => {
    const bytes = randomBytes(2 * BACKUP_PIECE_BYTES + 12_345);
    const reads = new BackupReads(3);
    expect(reads.busy(0)).toBeUndefined();
    const number = reads.add(await copyOf(bytes, 'a'), 1_000);
    expect(reads.busy(6_000)).toMatch(/^replica 3 is still being read by another backup \(started 5 s ago\)/);
    expect(() => reads.add({ bytes: 1, read: () => Promise.resolve(), close: () => Promise.resolve() }, 0)).toThrow(/one backup copy at a time/);
    const pieces: Uint8Array[] = [];
    for (let offset = 0; offset < bytes.length; ) {
      const piece = await reads.read(number, offset);
      if (!piece.ok) throw new Error(piece.message);
      expect(piece.data.length).toBe(Math.min(BACKUP_PIECE_BYTES, bytes.length - offset));
      pieces.push(piece.data);
      offset += piece.data.length;
    }
    expect(Buffer.concat(pieces).equals(bytes)).toBe(true);
    // Read to its end: closed, and room for the next backup.
    expect(reads.busy(7_000)).toBeUndefined();
    const after = await reads.read(number, 0);
    expect(after.ok).toBe(false);
    expect(!after.ok && after.message).toMatch(/^replica 3 holds no backup copy 1 .*run ecom backup again$/);
  });

  it('refuses a copy it does not hold and an offset past the end, and keeps the copy for a retry', async () => {
    const reads = new BackupReads(1);
    const number = reads.add(await copyOf(randomBytes(100), 'b'), 0);
    const unknown = await reads.read(number + 1, 0);
    expect(!unknown.ok && unknown.message).toContain(`holds no backup copy ${number + 1}`);
    const past = await reads.read(number, 101);
    expect(!past.ok && past.message).toBe(`backup copy ${number} has 100 bytes; there is nothing at 101`);
    const piece = await reads.read(number, 40);
    expect(piece.ok && piece.data.length).toBe(60);
  });

  it('closes a copy nobody reads for a minute (a backup killed half way)', async () => {
    vi.useFakeTimers();
    const reads = new BackupReads(2);
    const number = reads.add(await copyOf(randomBytes(3 * BACKUP_PIECE_BYTES), 'c'), Date.now());
    const first = await reads.read(number, 0);
    expect(first.ok).toBe(true);
    vi.advanceTimersByTime(59_000);
    expect(reads.busy(Date.now())).toBeDefined();
    vi.advanceTimersByTime(2_000);
    expect(reads.busy(Date.now())).toBeUndefined();
    expect((await reads.read(number, BACKUP_PIECE_BYTES)).ok).toBe(false);
  });
});
