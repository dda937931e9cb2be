// The tiny key-value state machine the simulator runs on top of Raft.
import type { KvInput, KvOutput } from '../lincheck/history.js';

export interface KvCommand {
  /** Unique per operation, so the proposing node can match the applied entry to its client. */
  readonly opId: number;
  readonly input: KvInput;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeCommand(c: KvCommand): Uint8Array {
  return encoder.encode(JSON.stringify(c));
}

export function decodeCommand(data: Uint8Array): KvCommand {
  return JSON.parse(decoder.decode(data)) as KvCommand;
}

export class KvStateMachine {
  private data = new Map<string, string>();

  apply(input: KvInput): KvOutput {
    switch (input.kind) {
      case 'put':
        this.data.set(input.key, input.value);
        return { done: true };
      case 'delete':
        this.data.delete(input.key);
        return { done: true };
      case 'get':
        return { value: this.data.get(input.key) ?? null };
      case 'createIfAbsent': {
        if (this.data.has(input.key)) return { created: false };
        this.data.set(input.key, input.value);
        return { created: true };
      }
    }
  }

  read(key: string): string | null {
    return this.data.get(key) ?? null;
  }

  snapshot(): Uint8Array {
    return encoder.encode(JSON.stringify([...this.data.entries()].sort()));
  }

  restore(data: Uint8Array): void {
    this.data = new Map(JSON.parse(decoder.decode(data)) as [string, string][]);
  }
}
