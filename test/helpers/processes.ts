import { processState } from '../../src/util/proc-state.js';

/** Whether `pid` runs: a zombie not yet reaped, or a pid that is gone (or absent), does not. */
export function running(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  const state = processState(pid);
  return state !== undefined && state !== 'Z' && state !== 'X';
}
