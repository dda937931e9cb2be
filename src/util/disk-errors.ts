/**
 * Errors that say the disk cannot take a write right now (full, over quota, failing, read-only)
 * rather than that the program is wrong: a replica pauses on them and tries again, where any
 * other error halts it. LMDB reports them with the bare errno number.
 */
const DISK_CODES = new Set(['ENOSPC', 'EDQUOT', 'EIO', 'EROFS', 'EFBIG']);
const DISK_ERRNOS = new Set([5, 27, 28, 30, 122]);

export function isDiskFault(err: unknown): err is Error & { code: string | number } {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') return DISK_CODES.has(code);
  if (typeof code === 'number') return DISK_ERRNOS.has(Math.abs(code));
  return false;
}

/** A short name for the fault, for logs and `ecom status`: "ENOSPC (no space left on device)". */
export function describeDiskFault(err: Error & { code: string | number }): string {
  const names: Record<number, string> = { 5: 'EIO', 27: 'EFBIG', 28: 'ENOSPC', 30: 'EROFS', 122: 'EDQUOT' };
  const name = typeof err.code === 'number' ? (names[Math.abs(err.code)] ?? String(err.code)) : err.code;
  return `${name}: ${err.message}`;
}
