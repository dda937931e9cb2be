import type { ClientOrderPage } from './backend.js';
import { clientOfIndexId, seqOfIndexId, type ClientOrderRecord } from './records.js';
import { assert } from '../util/assert.js';

/**
 * The order indexes of every client held in memory (single mode's state, each mqtt-mode
 * portal's), sorted by sequence number, so a page is a binary search and a slice instead of a
 * scan of the client's orders. Sequence numbers only grow, so adding is an append but for a
 * state rebuilt from a snapshot in any order; removing is a search and a splice.
 */
export class OrderIndexes {
  private readonly byClient = new Map<string, { seqs: number[]; oids: string[] }>();

  /**
   * The sequence number comes from the key, as the record table is keyed: an entry is indexed
   * and removed under the same number whatever its value says. A key that names no sequence
   * number (only a forged state transfer could hold one) is not indexed at all.
   */
  put(id: string, record: ClientOrderRecord): void {
    const seq = seqOfIndexId(id);
    if (!isIndexSeq(seq)) return;
    const cid = clientOfIndexId(id);
    let index = this.byClient.get(cid);
    if (index === undefined) this.byClient.set(cid, (index = { seqs: [], oids: [] }));
    const at = firstAbove(index.seqs, seq - 1);
    if (index.seqs[at] === seq) index.oids[at] = String(record.oid);
    else {
      index.seqs.splice(at, 0, seq);
      index.oids.splice(at, 0, String(record.oid));
    }
  }

  remove(id: string): void {
    const seq = seqOfIndexId(id);
    if (!isIndexSeq(seq)) return;
    const cid = clientOfIndexId(id);
    const index = this.byClient.get(cid);
    // Put and remove follow the writes of one table keyed by `id`: an entry there is indexed.
    assert(index !== undefined, () => `order index of client ${cid} is missing seq ${seq}`);
    const at = firstAbove(index.seqs, seq - 1);
    assert(index.seqs[at] === seq, () => `order index of client ${cid} is missing seq ${seq}`);
    index.seqs.splice(at, 1);
    index.oids.splice(at, 1);
    if (index.seqs.length === 0) this.byClient.delete(cid);
  }

  page(cid: string, afterSeq: number, limit: number): ClientOrderPage {
    const index = this.byClient.get(cid);
    if (index === undefined) return { entries: [], next: null };
    const from = firstAbove(index.seqs, afterSeq);
    const to = Math.min(index.seqs.length, from + limit);
    const entries = [];
    for (let i = from; i < to; i++) entries.push({ seq: index.seqs[i] as number, oid: index.oids[i] as string });
    return { entries, next: to < index.seqs.length ? (index.seqs[to - 1] ?? afterSeq) : null };
  }
}

function isIndexSeq(seq: number): boolean {
  return Number.isSafeInteger(seq) && seq > 0;
}

/** The position of the first number above `value` in the ascending `sorted`. */
function firstAbove(sorted: readonly number[], value: number): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if ((sorted[mid] as number) <= value) low = mid + 1;
    else high = mid;
  }
  return low;
}
