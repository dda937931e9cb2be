import { execFile, spawnSync } from 'node:child_process';
import { APPLIED_KEY } from './lmdb-store.js';

/**
 * Reads an LMDB state store through once in a child process, and says what went wrong, if
 * anything. Without values, LMDB's cursor walks every leaf page in native code and only counts
 * (getKeysCount): making a JavaScript string of each key took 195 ms on a 1,000,000-key store
 * where counting takes 49, and it checked nothing a damaged page would not fail first. A child, because LMDB maps the file into memory and trusts what it finds there: a
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

/** The child's program: the store's path is its argument, or else what its stdin says, read once lmdb is loaded. */
function script(values: boolean): string {
  return `const { open } = await import(${JSON.stringify(import.meta.resolve('lmdb'))});
const path = process.argv[1] ?? (await new Promise((resolve) => { let text = ''; process.stdin.setEncoding('utf8').on('data', (d) => (text += d)).on('end', () => resolve(text)); }));
if (path === '') process.exit(2); // the replica ended before it named a store
const db = open({ path, compression: false, encoding: 'msgpack', readOnly: true });
let keys = 0;
${values ? 'for (const _ of db.getRange({})) keys++;' : 'keys = db.getKeysCount({});'}
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
  return startCheck(check).run(path);
}

/** A check whose child is started before the store it will read is there. */
export interface PendingCheck {
  /** Reads the store at `path`; its time limit runs from now. */
  run(path: string): Promise<StoreCheckResult>;
  /** Ends the child if it was never run. */
  cancel(): void;
}

/**
 * Starts a check's child ahead of its store: starting Node and loading lmdb takes ~150 ms, which
 * a replica spends while a store file is still arriving instead of after. The child waits for
 * the path on its stdin; it ends when that closes, so it never outlives the replica.
 */
export function startCheck(check: StoreCheck): PendingCheck {
  let timer: NodeJS.Timeout | undefined;
  let started = false;
  let timedOut = false;
  const child = execFile(process.execPath, ['--input-type=module', '-e', script(check.values)], { encoding: 'utf8', maxBuffer: 1 << 16 });
  const result = new Promise<StoreCheckResult>((resolve) => {
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: string) => (stdout += d));
    child.stderr?.on('data', (d: string) => (stderr += d));
    child.on('error', (err) => resolve(verdict(null, null, stdout, stderr, err)));
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve(timedOut ? { ok: false, problem: `reading it took over ${check.timeout_ms} ms` } : verdict(status, signal, stdout, stderr, undefined));
    });
  });
  // A pipe closed under the write (the child ended first) is told by its exit, not as an error here.
  child.stdin?.on('error', () => undefined);
  return {
    run: (path) => {
      if (started) throw new Error('a store check runs once');
      started = true;
      timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, check.timeout_ms);
      child.stdin?.end(path);
      return result;
    },
    cancel: () => {
      if (!started) child.kill('SIGKILL');
    },
  };
}
