import { describe, expect, it } from 'vitest';
import { decodeLogMessage, decodeStateMessage, decodeTraceReply, decodeTraceRequest, encode, PROTOCOL_LIMITS, topics } from '../../src/modes/mqtt/protocol.js';
import { runEcom } from '../helpers/ecom.js';

const bytes = (value: unknown) => Buffer.from(JSON.stringify(value));

describe('mqtt wire messages', () => {
  it('round-trips every log message kind', () => {
    const messages = [
      { t: 'cmd', o: 'abc', s: 3, c: { op: 'CreateOrder', oid: '1', cid: '2', data: '[]' } },
      { t: 'sync', o: 'abc', n: 'n1', p: 4 },
      { t: 'check', o: 'abc', p: 10, d: '0123456789abcdef' },
    ] as const;
    for (const msg of messages) expect(decodeLogMessage(encode(msg))).toEqual(msg);
  });

  it('rejects malformed log messages with a reason instead of throwing', () => {
    const cases: unknown[] = [
      'text',
      null,
      { t: 'cmd', o: 'abc', s: 0, c: { op: 'DeleteOrder', oid: '1' } },
      { t: 'cmd', o: 'abc', s: 1.5, c: { op: 'DeleteOrder', oid: '1' } },
      { t: 'cmd', o: 'abc', s: 1, c: { op: 'Explode', oid: '1' } },
      { t: 'cmd', o: 'a/b', s: 1, c: { op: 'DeleteOrder', oid: '1' } },
      { t: 'sync', o: 'abc' },
      { t: 'check', o: 'abc', p: -1, d: 'x' },
      { t: 'other', o: 'abc' },
    ];
    for (const value of cases) expect(decodeLogMessage(bytes(value))).toHaveProperty('error');
    expect(decodeLogMessage(Buffer.from('{'))).toEqual({ error: 'not JSON' });
    expect(decodeLogMessage(Buffer.alloc(PROTOCOL_LIMITS.logMessageMax_bytes + 1))).toHaveProperty('error');
  });

  it('reads a command with or without its publish stamp, and drops only a bad stamp', () => {
    const command = { t: 'cmd', o: 'abc', s: 3, c: { op: 'DeleteOrder', oid: '1' } } as const;
    // An older portal's command has no stamp; a newer one's has one an older portal ignores.
    expect(decodeLogMessage(bytes(command))).toEqual(command);
    expect(decodeLogMessage(bytes({ ...command, at: 1764831600123.456 }))).toEqual({ ...command, at: 1764831600123.456 });
    for (const at of ['soon', -5, 0, null, [1]]) expect(decodeLogMessage(bytes({ ...command, at }))).toEqual(command);
  });

  it('checks trace requests and answers', () => {
    expect(decodeTraceRequest(bytes({ n: 'n1' }))).toEqual({ n: 'n1' });
    for (const bad of [{}, { n: 'a/b' }, { n: 'x'.repeat(65) }, 'n1']) expect(decodeTraceRequest(bytes(bad))).toHaveProperty('error');
    expect(decodeTraceRequest(Buffer.alloc(2_000, 0x20))).toHaveProperty('error');
    const stage = { count: 3, p50_ms: 0.1, p90_ms: 0.2, p99_ms: 0.3, max_ms: 0.4 };
    const reply = { n: 'n1', from: 'p', pid: 42, stages: { apply: stage }, skewed: 0 };
    expect(decodeTraceReply(encode(reply))).toEqual(reply);
    expect(decodeTraceReply(bytes({ ...reply, stages: { apply: { ...stage, p50_ms: 'fast' } } }))).toHaveProperty('error');
    expect(decodeTraceReply(bytes({ ...reply, pid: -1 }))).toHaveProperty('error');
  });

  it('checks the framing of a state transfer and passes refusals through', () => {
    const good = { n: 'n1', from: 'p', position: 2, digest: 'd', applied: { p: 2 }, records: [['client', '1', { kind: 'client', name: 'A', orders: [] }]] };
    expect(decodeStateMessage(bytes(good))).toEqual(good);
    expect(decodeStateMessage(bytes({ n: 'n1', from: 'p', error: 'too large' }))).toEqual({ n: 'n1', from: 'p', error: 'too large' });
    expect(decodeStateMessage(bytes({ ...good, records: [['client', '1', { kind: 'product' }]] }))).toHaveProperty('error');
    expect(decodeStateMessage(bytes({ ...good, applied: { p: -1 } }))).toHaveProperty('error');
  });

  it('refuses a topic prefix with MQTT wildcards', () => {
    expect(() => topics('a/#')).toThrow(/wildcards/);
    expect(topics('shop').log).toBe('shop/log');
  });

  it('refuses a broker address that is not an mqtt:// URL, naming an example', async () => {
    const run = await runEcom(['admin-server', '0', '--mode', 'mqtt', '--broker', 'http://127.0.0.1:1884']);
    // A usage error (2) when mqtt mode's own --broker option is the one declared, a start-up
    // error (1) when another mode declared --broker first; the text is the same.
    expect([1, 2]).toContain(run.code);
    expect(run.stderr).toContain('is not an mqtt:// URL; use mqtt://host:port, e.g. mqtt://127.0.0.1:1884');
  });
});
