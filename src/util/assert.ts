/**
 * The one way production code states what must be true. A failed assertion is always a bug in
 * ecom, never a consequence of input: whatever arrives from outside is validated and refused
 * before it can reach one. Processes treat InvariantError as fatal: a
 * replica halts with one log line naming it instead of serving from a state it cannot trust.
 */
export class InvariantError extends Error {
  constructor(message: string) {
    super(`invariant broken: ${message}`);
    this.name = 'InvariantError';
  }
}

/** Messages that cost something to build are passed as functions, so hot paths pay only on failure. */
export type InvariantMessage = string | (() => string);

function text(message: InvariantMessage): string {
  return typeof message === 'string' ? message : message();
}

export function assert(condition: unknown, message: InvariantMessage): asserts condition {
  if (!condition) throw new InvariantError(text(message));
}

/** A value the program's own logic guarantees is present (a map entry it just set, a started server). */
export function defined<T>(value: T | null | undefined, what: InvariantMessage): T {
  if (value === undefined || value === null) throw new InvariantError(`${text(what)} is missing`);
  return value;
}

/** Marks a path the program's logic rules out (an exhausted switch, a loop that must have returned). */
export function unreachable(message: InvariantMessage): never {
  throw new InvariantError(text(message));
}
