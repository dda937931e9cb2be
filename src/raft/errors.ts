// Every refusal the core can give is a RaftError with a stable code, so drivers can branch on it.

export type RaftErrorCode =
  | 'NotLeader'
  | 'TransferInProgress'
  | 'ProposalQueueFull'
  | 'ProposalTooLarge'
  | 'ReadQueueFull'
  | 'OutboxFull'
  | 'ConfChangePending'
  | 'ConfChangeInvalid'
  | 'LearnerNotCaughtUp'
  | 'LeaderNotReady'
  | 'CompactionInvalid'
  | 'TransferInvalid'
  | 'MessageInvalid';

export class RaftError extends Error {
  readonly code: RaftErrorCode;
  /** Best known leader when code is NotLeader (0 when unknown). */
  readonly leaderHint: number;
  constructor(code: RaftErrorCode, message: string, leaderHint = 0) {
    super(`${code}: ${message}`);
    this.name = 'RaftError';
    this.code = code;
    this.leaderHint = leaderHint;
  }
}

/** Thrown when an internal invariant is broken: always a bug, never a normal condition. */
export class InvariantError extends Error {
  constructor(message: string) {
    super(`raft invariant violated: ${message}`);
    this.name = 'InvariantError';
  }
}

export function invariant(condition: boolean, message: string | (() => string)): asserts condition {
  if (!condition) throw new InvariantError(typeof message === 'string' ? message : message());
}
