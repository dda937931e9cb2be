import { describe, expect, it } from 'vitest';
import { counterGrowth, portalRates, quantile, type Sample } from '../../src/dashboard/portal-rates.js';

/** The portals panel's arithmetic on two scrapes. */
const sample = (name: string, labels: Record<string, string>, value: number): Sample => ({ name, labels, value });
const handled = (code: string, value: number, process = 'order-server-1') => sample('grpc_server_handled_total', { process, grpc_method: 'CreateOrder', grpc_code: code }, value);
const bucket = (le: string, value: number) => sample('grpc_server_handling_seconds_bucket', { process: 'order-server-1', grpc_method: 'CreateOrder', le }, value);

describe('portal rates', () => {
  it('quantiles interpolate within the bucket that holds the rank, as histogram_quantile does', () => {
    const buckets = [{ le: 0.001, count: 50 }, { le: 0.01, count: 90 }, { le: 0.1, count: 100 }, { le: Infinity, count: 100 }];
    expect(quantile(0.5, buckets)).toBeCloseTo(0.001);
    expect(quantile(0.7, buckets)).toBeCloseTo(0.001 + (0.009 * 20) / 40);
    expect(quantile(0.99, buckets)).toBeCloseTo(0.01 + (0.09 * 9) / 10);
    expect(quantile(0.5, [{ le: 0.1, count: 0 }, { le: Infinity, count: 4 }])).toBe(0.1);
    expect(quantile(0.5, [{ le: Infinity, count: 0 }])).toBeUndefined();
  });

  it('rates, latency and errors over the interval between two scrapes', () => {
    const before = [handled('OK', 100), handled('UNAVAILABLE', 1), bucket('0.001', 80), bucket('0.01', 101), bucket('+Inf', 101), sample('ecom_portal_replies_total', { process: 'order-server-1', grpc_method: 'CreateOrder', code: '404' }, 3)];
    const after = [handled('OK', 300), handled('UNAVAILABLE', 3), bucket('0.001', 180), bucket('0.01', 303), bucket('+Inf', 303), sample('ecom_portal_replies_total', { process: 'order-server-1', grpc_method: 'CreateOrder', code: '404' }, 5)];
    const [row, ...others] = portalRates(before, after, 2);
    expect(others).toEqual([]);
    expect(row).toMatchObject({ process: 'order-server-1', method: 'CreateOrder', rps: 101, errors: { UNAVAILABLE: 2, 'reply 404': 2 } });
    expect(row!.p50_ms).toBeCloseTo(1 + (9 * (101 - 100)) / 102);
  });

  it('a restarted process (counters reset) counts from zero; idle RPCs are left out', () => {
    const rows = portalRates([handled('OK', 500), handled('OK', 7, 'admin-server-2')], [handled('OK', 20), handled('OK', 7, 'admin-server-2')], 1);
    expect(rows.map((r) => [r.process, r.rps])).toEqual([['order-server-1', 20]]);
  });

  it('counter growth by process, for the timeline of 2PC recoveries', () => {
    const recovered = (process: string, value: number) => sample('ecom_storage_transactions_recovered_total', { process }, value);
    expect(counterGrowth([recovered('admin-server-1', 2), recovered('order-server-2', 5)], [recovered('admin-server-1', 2), recovered('order-server-2', 8)], 'ecom_storage_transactions_recovered_total')).toEqual([{ process: 'order-server-2', delta: 3 }]);
  });

  it("a method's first calls count; a process missing from the first scrape does not", () => {
    const up = sample('process_cpu_seconds_total', { process: 'order-server-1' }, 1);
    const rows = portalRates([up], [up, handled('OK', 2), handled('OK', 900, 'admin-server-2')], 1);
    expect(rows.map((r) => [r.process, r.rps])).toEqual([['order-server-1', 2]]);
  });
});
