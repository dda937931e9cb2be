// The operation history format the checker consumes.

export type KvInput =
  | { readonly kind: 'put'; readonly key: string; readonly value: string }
  | { readonly kind: 'get'; readonly key: string }
  | { readonly kind: 'delete'; readonly key: string }
  | { readonly kind: 'createIfAbsent'; readonly key: string; readonly value: string };

/** get → value (null when absent); createIfAbsent → created; put/delete → nothing to check. */
export type KvOutput = { readonly value: string | null } | { readonly created: boolean } | { readonly done: true };

export interface KvOperation {
  readonly client: number;
  readonly input: KvInput;
  /** undefined when the outcome is unknown (timeout): the op may or may not have taken effect. */
  readonly output: KvOutput | undefined;
  readonly call: number;
  /** Infinity when the outcome is unknown. */
  readonly ret: number;
}
