// Sequential specification of one key of the key-value store.
import type { KvInput, KvOutput } from './history.js';

/** The value of one key; null = absent. */
export type KeyState = string | null;

/** Applies input to state; returns the new state, or undefined when `output` is impossible from `state`. */
export function stepKey(state: KeyState, input: KvInput, output: KvOutput | undefined): { next: KeyState } | undefined {
  switch (input.kind) {
    case 'put':
      return { next: input.value };
    case 'delete':
      return { next: null };
    case 'get':
      if (output === undefined) return { next: state };
      return 'value' in output && output.value === state ? { next: state } : undefined;
    case 'createIfAbsent': {
      const created = state === null;
      if (output !== undefined && (!('created' in output) || output.created !== created)) return undefined;
      return { next: created ? input.value : state };
    }
  }
}
