import { checkKvHistory } from '../lincheck/checker.js';
import type { KvInput, KvOperation, KvOutput } from '../lincheck/history.js';
import type { Command, Reply } from '../domain/commands.js';
import { Prng } from '../util/random.js';
import type { PartitionedBackend } from '../storage/client/partitioned-backend.js';
import type { OpRecord, Recorder, Violation } from './history.js';
import { defined } from '../util/assert.js';

/**
 * The register workload at the storage API: a few keys (client IDs on both partitions), each a
 * register written with unique values and read linearizably, checked with src/lincheck.
 *
 * Mapping onto the shop's records: put = UpdateClient (a 404 means the key was absent: a read
 * of "absent"); createIfAbsent = CreateClient (400 = existed); delete = DeleteClient (404 = a
 * read of "absent"); get = read of the client record, its name the value. A 503 or any thrown
 * error is an unknown outcome: the write may or may not have happened.
 */
// Enough keys that the unknown outcomes of an outage spread thin: each one multiplies the checker's search on its key.
export const REGISTER_KEYS = Array.from({ length: 12 }, (_, i) => String(1001 + i));

export interface RegisterOptions {
  readonly backends: readonly PartitionedBackend[];
  readonly clients: number;
  readonly seed: number;
  readonly recorder: Recorder;
  readonly running: () => boolean;
}

export async function runRegister(options: RegisterOptions): Promise<void> {
  const rng = new Prng(options.seed ^ 0x5eed);
  await Promise.all(
    Array.from({ length: options.clients }, async (_, client) => {
      const mine = rng.fork();
      const backend = options.backends[client % options.backends.length]!;
      for (let n = 0; options.running() && !options.recorder.full; n++) {
        const key = mine.pick(REGISTER_KEYS);
        const roll = mine.int(10);
        const value = `v${client}-${n}`;
        if (roll < 4) {
          const rec = options.recorder.begin('register', client, 'get', [`client/${key}`], { key });
          try {
            const record = await backend.read('client', key);
            options.recorder.end(rec, 'ok', { value: record?.name ?? null });
          } catch (err) {
            // A failed read changed nothing: recorded for the report, ignored by the checker.
            options.recorder.end(rec, 'fail', { error: (err as Error).message });
          }
          continue;
        }
        const command: Command =
          roll < 7
            ? { op: 'UpdateClient', cid: key, data: JSON.stringify({ name: value }) }
            : roll < 9
              ? { op: 'CreateClient', cid: key, data: JSON.stringify({ name: value }) }
              : { op: 'DeleteClient', cid: key };
        const rec = options.recorder.begin('register', client, command.op, [`client/${key}`], { key, value });
        let reply: Reply;
        try {
          reply = await backend.execute(command);
        } catch (err) {
          options.recorder.end(rec, 'unknown', { error: (err as Error).message });
          await new Promise((r) => setTimeout(r, 200));
          continue;
        }
        // The coordinator says when a 503 certainly changed nothing; taking it at its word checks that claim too.
        const notApplied = reply.code === 503 && reply.message.key === 'storeUnavailableNotApplied';
        const outcome = reply.code === 0 ? 'ok' : (reply.code === 503 && !notApplied) || reply.code === 500 ? 'unknown' : 'fail';
        options.recorder.end(rec, outcome, reply);
        // The tier is down: do not pile up more unknown outcomes than needed.
        if (reply.code === 503) await new Promise((r) => setTimeout(r, 200));
      }
    }),
  );
}

/** Translates recorded register operations into the checker's KV history. */
export function toKvHistory(ops: readonly OpRecord[]): KvOperation[] {
  const out: KvOperation[] = [];
  for (const op of ops) {
    if (op.workload !== 'register' || op.outcome === undefined) continue;
    const { key, value } = op.input as { key: string; value: string };
    const reply = op.result as { code?: number; value?: string | null };
    let input: KvInput;
    let output: KvOutput | undefined;
    const unknown = op.outcome === 'unknown';
    switch (op.op) {
      case 'get':
        if (op.outcome !== 'ok') continue;
        input = { kind: 'get', key };
        output = { value: reply.value ?? null };
        break;
      case 'UpdateClient':
        if (reply.code === 404) [input, output] = [{ kind: 'get', key }, { value: null }];
        else if (op.outcome === 'fail') continue;
        else [input, output] = [{ kind: 'put', key, value }, unknown ? undefined : { done: true }];
        break;
      case 'CreateClient':
        if (op.outcome === 'fail' && reply.code !== 400) continue;
        input = { kind: 'createIfAbsent', key, value };
        output = unknown ? undefined : { created: op.outcome === 'ok' };
        break;
      case 'DeleteClient':
        if (reply.code === 404) [input, output] = [{ kind: 'get', key }, { value: null }];
        else if (op.outcome === 'fail') continue;
        else [input, output] = [{ kind: 'delete', key }, unknown ? undefined : { done: true }];
        break;
      default:
        continue;
    }
    out.push({ client: op.client, input, output, call: op.call_ms, ret: unknown ? Infinity : defined(op.ret_ms, 'return time of a settled operation') });
  }
  return out;
}

export function checkRegister(ops: readonly OpRecord[]): { checked: number; violations: Violation[] } {
  const history = toKvHistory(ops);
  let result;
  try {
    result = checkKvHistory(history);
  } catch (err) {
    // Too many unknown outcomes on one key to decide: not a proof of a bug, but not a pass either.
    return { checked: history.length, violations: [{ checker: 'linearizability-inconclusive', message: (err as Error).message, keys: [] }] };
  }
  if (result.ok) return { checked: history.length, violations: [] };
  return {
    checked: history.length,
    violations: [{ checker: 'linearizability', message: `the register history of key client/${result.badKey} is not linearizable`, keys: [`client/${result.badKey}`] }],
  };
}
