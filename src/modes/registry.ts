import type { ModeDefinition } from './mode.js';
import { etcdMode } from './etcd/mode.js';
import { raftMode } from './raft/mode.js';
import { singleMode } from './single/mode.js';

/** Every mode this build ships. */
export const MODES: readonly ModeDefinition[] = [raftMode, singleMode, etcdMode];

/** The original's part 2, done right: `npm start` runs the replicated, partitioned storage tier. */
export const DEFAULT_MODE = 'raft';

/** Modes the product defines (SPEC.md §1) that this build may not ship yet. */
export const PLANNED_MODES = ['raft', 'mqtt', 'single', 'etcd'] as const;

export function findMode(name: string): ModeDefinition {
  const mode = MODES.find((m) => m.name === name);
  if (mode !== undefined) return mode;
  const shipped = MODES.map((m) => m.name).join(', ');
  if ((PLANNED_MODES as readonly string[]).includes(name)) {
    throw new Error(`mode "${name}" is not available in this build yet; choose one of: ${shipped}`);
  }
  throw new Error(`unknown mode "${name}"; choose one of: ${shipped}`);
}
