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

// Broken invariants are not refusals: the core asserts with src/util/assert.ts like the rest.
export { InvariantError } from '../util/assert.js';
