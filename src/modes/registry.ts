import type { ModeDefinition } from './mode.js';
import { mqttMode } from './mqtt/mode.js';
import { singleMode } from './single/mode.js';

/** Every mode this build ships; the first is the default of `ecom up`. */
export const MODES: readonly ModeDefinition[] = [singleMode, mqttMode];

export const DEFAULT_MODE = 'single';

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
