import { describe, expect, it } from 'vitest';
import { likelyKeys } from '../../src/domain/likely-keys.js';
import { keyString } from '../../src/domain/records.js';

describe('likelyKeys', () => {
  it('names the order, the client and every listed product of an order once each', () => {
    const keys = likelyKeys({ op: 'CreateOrder', oid: '10', cid: '2', data: '[{"id": "1", "quantity": 1}, {"id": "3", "quantity": 2}, {"id": "1", "quantity": 1}]' });
    expect(keys.map(keyString)).toEqual(['order/10', 'client/2', 'product/1', 'product/3']);
  });

  it('hints less for a malformed request: invalid IDs and unreadable items are left out', () => {
    expect(likelyKeys({ op: 'CreateOrder', oid: '0', cid: '2', data: 'not json' }).map(keyString)).toEqual(['client/2']);
    expect(likelyKeys({ op: 'UpdateOrder', oid: '4', cid: '', data: '[{"id": "5", "quantity": 1}]' }).map(keyString)).toEqual(['order/4', 'product/5']);
  });

  it('names just the record of a single-record command', () => {
    expect(likelyKeys({ op: 'DeleteProduct', pid: '8' }).map(keyString)).toEqual(['product/8']);
  });
});
