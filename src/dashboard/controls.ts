import type { ProcessState } from './cluster-view.js';

/**
 * What the dashboard may do to replica processes, given only by an owner that started them
 * (`ecom up`): a cluster started by hand has none, and the page shows no buttons.
 */
export const CONTROL_ACTIONS = ['kill', 'pause', 'resume', 'restart', 'cut', 'heal'] as const;
export type ControlAction = (typeof CONTROL_ACTIONS)[number];
/** The actions on a replica's network links rather than its process: they need the owner's link proxies. */
export const LINK_ACTIONS: readonly ControlAction[] = ['cut', 'heal'];

export function isControlAction(text: string): text is ControlAction {
  return (CONTROL_ACTIONS as readonly string[]).includes(text);
}

/** Something that happened to a replica's process without the page asking (a crash, a supervised restart). */
export interface ProcessEvent {
  /** Unset for another process of the system (a portal, the broker). */
  readonly replica?: number;
  readonly text: string;
}

export interface ReplicaControls {
  /** The replicas these controls own. */
  readonly replicas: readonly number[];
  /** Why cut and heal are refused for every replica (the owner put no proxies on the links); unset when they work. */
  readonly linksRefusal?: string;
  process(id: number): ProcessState | undefined;
  /** Does `action` to replica `id` (one it owns); resolves with what was done, in words, or rejects saying why not. */
  act(id: number, action: ControlAction): Promise<string>;
  /** Tells `listener` of every process event until the returned function is called. */
  onProcessEvent(listener: (event: ProcessEvent) => void): () => void;
}
