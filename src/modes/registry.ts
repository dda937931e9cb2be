import { etcdMode } from './etcd/mode.js';
import type { ModeDefinition } from './mode.js';
import { mqttMode } from './mqtt/mode.js';
import { raftMode } from './raft/mode.js';
import { singleMode } from './single/mode.js';

/** Every mode this build ships (docs/spec.md, Modes), in the order `--help` lists them. */
export const MODES: readonly ModeDefinition[] = [raftMode, mqttMode, singleMode, etcdMode];

/** The original's part 2, done right: `npm start` runs the replicated, partitioned storage tier. */
export const DEFAULT_MODE = 'raft';

export function findMode(name: string): ModeDefinition {
  const mode = MODES.find((m) => m.name === name);
  if (mode !== undefined) return mode;
  throw new Error(`unknown mode "${name}"; choose one of: ${MODES.map((m) => m.name).join(', ')}`);
}
