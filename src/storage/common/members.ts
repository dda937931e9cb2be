import { isPort } from '../../util/ports.js';
import type { ReplicaAddress } from './topology.js';

/**
 * A partition's membership as replicas report it (the `status` op) and operators change it
 * (the `changeMember` op, `ecom member`). Who votes lives in the Raft core's conf entries; where
 * each member listens travels in the same log as an `address` entry, written just before the
 * conf entry that adds the member, kept in the state machine (so in every snapshot) and read
 * back by every replica and portal. `--storage-config` only bootstraps it.
 */
export type MemberRole = 'voter' | 'learner';

export interface MemberView {
  readonly id: number;
  readonly role: MemberRole;
  /** Absent when no address is known for it (a bootstrap member missing from this replica's --storage-config). */
  readonly address?: ReplicaAddress;
}

export type MemberChangeKind = 'add' | 'promote' | 'remove';

export interface MemberChangeRequest {
  readonly op: 'changeMember';
  readonly partition: number;
  readonly change: MemberChangeKind;
  readonly id: number;
  /** Only for 'add': where the new replica listens (its partition is the request's). */
  readonly host?: string;
  readonly clientPort?: number;
  readonly raftPort?: number;
}

/** The log entry that tells every replica where a member listens. */
export interface AddressOp {
  readonly t: 'address';
  readonly replica: ReplicaAddress;
}

/** What a membership change answers once its conf entry applied on the leader. */
export interface MemberChangeResult {
  readonly partition: number;
  readonly members: readonly MemberView[];
}

export const MEMBER_CHANGES: readonly MemberChangeKind[] = ['add', 'promote', 'remove'];
/** Host names and literal addresses; longer is a mistake, not a host. */
export const MAX_HOST_CHARS = 253;

/** The state machine key of a member's address record. */
export const ADDRESS_KEY_PREFIX = 'members/';
export const addressKey = (id: number): string => `${ADDRESS_KEY_PREFIX}${id}`;

const isReplicaId = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 1 && v <= 0xffff_ffff;

/** The problem with a replica address as the log carries it, or undefined. */
export function addressProblem(address: unknown, partition: number): string | undefined {
  if (typeof address !== 'object' || address === null || Array.isArray(address)) return 'an address must be {id, partition, host, clientPort, raftPort}';
  const a = address as Record<string, unknown>;
  if (!isReplicaId(a.id)) return 'id must be a replica id (a whole number from 1)';
  if (a.partition !== partition) return `the address names partition ${JSON.stringify(a.partition)?.slice(0, 20)}, not ${partition}`;
  if (typeof a.host !== 'string' || a.host === '' || a.host.length > MAX_HOST_CHARS || /\s/.test(a.host)) return `host must be a host name or address of 1 to ${MAX_HOST_CHARS} characters without spaces`;
  if (!isPort(a.clientPort) || !isPort(a.raftPort)) return 'clientPort and raftPort must be ports from 1 to 65535';
  if (a.clientPort === a.raftPort) return 'clientPort and raftPort must differ';
  return undefined;
}

/** The problem with a changeMember request for `partition`, or undefined. */
export function memberChangeProblem(body: Record<string, unknown>, partition: number): string | undefined {
  if (typeof body.change !== 'string' || !(MEMBER_CHANGES as readonly string[]).includes(body.change)) return `change must be one of ${MEMBER_CHANGES.join(', ')}`;
  if (!isReplicaId(body.id)) return 'id must be a replica id (a whole number from 1)';
  if (body.change !== 'add') {
    return body.host === undefined && body.clientPort === undefined && body.raftPort === undefined ? undefined : `only "add" takes host, clientPort and raftPort`;
  }
  return addressProblem({ id: body.id, partition, host: body.host, clientPort: body.clientPort, raftPort: body.raftPort }, partition);
}

export function addressOfChange(request: MemberChangeRequest): ReplicaAddress {
  const { id, partition, host, clientPort, raftPort } = request;
  if (host === undefined || clientPort === undefined || raftPort === undefined) throw new Error(`adding replica ${id} needs its host, client port and raft port`);
  return { id, partition, host, clientPort, raftPort };
}
