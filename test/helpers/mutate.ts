import type { Prng } from '../../src/util/random.js';

/**
 * One random change somewhere in the JSON tree of `value`, for the fuzzers: a field dropped or
 * replaced by one of `weird` (or by a deeper change), an array item likewise. The input is not
 * modified.
 */
export function mutate(value: unknown, r: Prng, weird: readonly unknown[], depth = 0): unknown {
  if (value === null || typeof value !== 'object' || depth > 3 || r.chance(0.2)) return r.pick(weird);
  const copy: Record<string, unknown> = Array.isArray(value) ? ({ ...value } as Record<string, unknown>) : { ...(value as Record<string, unknown>) };
  const keys = Object.keys(copy);
  if (keys.length === 0) return r.pick(weird);
  const k = r.pick(keys);
  if (r.chance(0.25)) delete copy[k];
  else copy[k] = mutate(copy[k], r, weird, depth + 1);
  return Array.isArray(value) ? Object.values(copy) : copy;
}
