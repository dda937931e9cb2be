import { execFile, spawnSync } from 'node:child_process';
import { APPLIED_KEY } from './lmdb-store.js';

/**
 * Reads an LMDB state store through once in a child process, and says what went wrong, if
 * anything. A child, because LMDB maps the file into memory and trusts what it finds there: a
 * damaged page can end the process that reads it (a segmentation fault), and that must not be
 * the replica. Used on a store a machine crash may have damaged, and on a store file a peer
 * sent before it becomes this replica's store.
 */
export interface StoreCheck {
  /** Decode every value too (slower), not only walk the tree's keys. */
  readonly values: boolean;
  readonly timeout_ms: number;
}

/** What a store that reads back holds: its keys (the applied index's included) and applied index. */
export interface StoreContents {
  readonly keys: number;
  readonly applied: number;
}

export type StoreCheckResult = { readonly ok: true; readonly contents: StoreContents } | { readonly ok: false; readonly problem: string };

function script(values: boolean): string {
  return `const { open } = await import(${JSON.stringify(import.meta.resolve('lmdb'))});
const db = open({ path: process.argv[1], compression: false, encoding: 'msgpack', readOnly: true });
let keys = 0;
for (const _ of ${values ? 'db.getRange({})' : 'db.getKeys({})'}) keys++;
const applied = db.get(${JSON.stringify(APPLIED_KEY)}) ?? 0;
process.stdout.write(JSON.stringify({ keys, applied }));`;
}

function verdict(status: number | null, signal: NodeJS.Signals | null, stdout: string, stderr: string, error: Error | undefined): StoreCheckResult {
  if (status === 0) {
    const contents = JSON.parse(stdout) as StoreContents;
    if (Number.isSafeInteger(contents.applied) && contents.applied >= 0) return { ok: true, contents };
    return { ok: false, problem: `its applied index reads back as ${JSON.stringify(contents.applied)}` };
  }
  const why = error?.message ?? (signal !== null ? `reading it ended with ${signal}` : stderr.trim().split('\n').slice(-1)[0]);
  return { ok: false, problem: why ?? `reading it failed (exit ${status})` };
}

export function checkStoreSync(path: string, check: StoreCheck): StoreCheckResult {
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script(check.values), path], { encoding: 'utf8', timeout: check.timeout_ms });
  return verdict(run.status, run.signal, run.stdout, run.stderr, run.error);
}

/** As checkStoreSync, without holding the event loop while the child reads. */
export function checkStore(path: string, check: StoreCheck): Promise<StoreCheckResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--input-type=module', '-e', script(check.values), path], { encoding: 'utf8', timeout: check.timeout_ms, maxBuffer: 1 << 16 }, (err, stdout, stderr) => {
      const status = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
      resolve(verdict(status, err?.signal ?? null, stdout, stderr, err !== null && typeof err.code !== 'number' && err.signal == null ? err : undefined));
    });
  });
}
