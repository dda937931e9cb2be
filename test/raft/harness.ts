// A tiny synchronous network of RaftNodes for scenario tests: explicit message delivery, no faults
// unless a test cuts a link.
import { RaftNode, DEFAULT_OPTIONS } from '../../src/raft/core/index.js';
import type { Entry, Message, NodeId, RaftOptions, ReadState, Snapshot } from '../../src/raft/core/index.js';
import { Prng } from '../../src/util/random.js';

export interface Brief {
  type: string;
  from: number;
  to: number;
  term: number;
  index: number;
}

export function brief(m: Message): Brief {
  return { type: m.type, from: m.from, to: m.to, term: m.term, index: m.index };
}

export function fmt(m: Message): string {
  return `${m.type} ${m.from}->${m.to} t${m.term} i${m.index}${m.reject ? ' reject' : ''}`;
}

export class TestCluster {
  readonly nodes = new Map<NodeId, RaftNode>();
  readonly applied = new Map<NodeId, Entry[]>();
  readonly readStates = new Map<NodeId, ReadState[]>();
  readonly snapshotsApplied = new Map<NodeId, Snapshot[]>();
  /** Messages produced but not yet delivered. */
  pending: Message[] = [];
  /** Every message ever delivered, in order. */
  delivered: Message[] = [];
  private readonly cut = new Set<string>();
  readonly opts: Partial<RaftOptions>;

  constructor(ids: NodeId[], opts: Partial<RaftOptions> = {}, learners: NodeId[] = [], seed = 1) {
    this.opts = opts;
    const prng = new Prng(seed);
    for (const id of [...ids, ...learners]) this.add(id, { voters: ids, learners }, prng.fork());
  }

  add(id: NodeId, bootstrap: { voters: NodeId[]; learners: NodeId[] }, prng = new Prng(id)): RaftNode {
    const node = new RaftNode(
      { ...DEFAULT_OPTIONS, ...this.opts, id, random_int: (n) => prng.int(n) },
      { hardState: { term: 0, vote: 0, commit: 0 }, snapshot: undefined, entries: [], bootstrap },
    );
    this.nodes.set(id, node);
    this.applied.set(id, []);
    this.readStates.set(id, []);
    this.snapshotsApplied.set(id, []);
    return node;
  }

  node(id: NodeId): RaftNode {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  isolate(id: NodeId): void {
    for (const other of this.nodes.keys()) {
      if (other === id) continue;
      this.cut.add(`${id}>${other}`);
      this.cut.add(`${other}>${id}`);
    }
  }

  cutLink(from: NodeId, to: NodeId): void {
    this.cut.add(`${from}>${to}`);
  }

  heal(): void {
    this.cut.clear();
  }

  /** Collects Ready output from every node (persist = keep in core, apply = record). */
  collect(): Message[] {
    const out: Message[] = [];
    for (const [id, node] of this.nodes) {
      while (node.hasReady()) {
        const rd = node.ready();
        if (rd.snapshot) this.snapshotsApplied.get(id)!.push(rd.snapshot);
        this.applied.get(id)!.push(...rd.committedEntries);
        this.readStates.get(id)!.push(...rd.readStates);
        out.push(...rd.messages);
        node.advance();
      }
    }
    this.pending.push(...out);
    return out;
  }

  /** Delivers pending messages (and whatever they cause) until the network is quiet; `drop` loses the messages it picks. */
  stabilize(max_rounds = 1000, drop?: (m: Message) => boolean): void {
    for (let round = 0; round < max_rounds; round++) {
      this.collect();
      if (this.pending.length === 0) return;
      const batch = this.pending;
      this.pending = [];
      for (const m of batch) if (drop?.(m) !== true) this.deliver(m);
    }
    throw new Error('cluster did not stabilize');
  }

  deliver(m: Message): void {
    if (this.cut.has(`${m.from}>${m.to}`)) return;
    const node = this.nodes.get(m.to);
    if (!node) return;
    this.delivered.push(m);
    node.step(m);
  }

  /** Ticks a node until it starts campaigning. */
  elect(id: NodeId): void {
    this.node(id).campaign();
    this.stabilize();
  }

  leader(): RaftNode | undefined {
    const leaders = [...this.nodes.values()].filter((n) => n.role === 'leader');
    return leaders.length === 1 ? leaders[0] : undefined;
  }

  tickAll(n = 1): void {
    for (let i = 0; i < n; i++) for (const node of this.nodes.values()) node.tick();
  }

  /** Delivered messages since a mark, optionally excluding heartbeats. */
  since(mark: number, withHeartbeats = false): Brief[] {
    return this.delivered
      .slice(mark)
      .filter((m) => withHeartbeats || (m.type !== 'Heartbeat' && m.type !== 'HeartbeatResp'))
      .map(brief);
  }
}

export const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
export const dec = (b: Uint8Array): string => new TextDecoder().decode(b);

export function msg(p: Partial<Message> & Pick<Message, 'type' | 'from' | 'to' | 'term'>): Message {
  return {
    logTerm: 0,
    index: 0,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
    context: 0,
    snapshot: undefined,
    ...p,
  };
}

/** Entries with the given terms at indexes 1..n (payload = the index, so entries differ). */
export function entriesWithTerms(terms: number[], from = 1): Entry[] {
  return terms.map((term, i) => ({ term, index: from + i, kind: 'normal' as const, data: enc(`e${from + i}t${term}`) }));
}

/** A standalone node restored with the given log and hard state (no snapshot). */
export function nodeWithLog(
  id: NodeId,
  voters: NodeId[],
  terms: number[],
  hs: { term: number; vote?: NodeId; commit?: number },
  opts: Partial<RaftOptions> = {},
): RaftNode {
  const prng = new Prng(id);
  return new RaftNode(
    { ...DEFAULT_OPTIONS, pre_vote: false, check_quorum: false, ...opts, id, random_int: (n) => prng.int(n) },
    {
      hardState: { term: hs.term, vote: hs.vote ?? 0, commit: hs.commit ?? 0 },
      snapshot: undefined,
      entries: entriesWithTerms(terms),
      bootstrap: { voters, learners: [] },
    },
  );
}

/** Drains a standalone node's Ready and returns its messages (and what else it handed out). */
export function drain(node: RaftNode): { messages: Message[]; committed: Entry[]; hardStates: unknown[]; mustSync: boolean[] } {
  const out = { messages: [] as Message[], committed: [] as Entry[], hardStates: [] as unknown[], mustSync: [] as boolean[] };
  while (node.hasReady()) {
    const rd = node.ready();
    out.messages.push(...rd.messages);
    out.committed.push(...rd.committedEntries);
    if (rd.hardState) out.hardStates.push(rd.hardState);
    out.mustSync.push(rd.mustSync);
    node.advance();
  }
  return out;
}
