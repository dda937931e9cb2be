import { describe, expect, it } from 'vitest';
import { outcomeOfReply } from '../../src/chaos/history.js';
import { message, render } from '../../src/domain/messages.js';

describe('outcome of a portal reply', () => {
  it('takes a 503 that says nothing was changed at its word, in either language; other 503s and 500s are unknown', () => {
    for (const lang of ['pt', 'en'] as const) {
      expect(outcomeOfReply({ error: 503, description: render(message('storeUnavailableNotApplied'), lang) })).toBe('fail');
      expect(outcomeOfReply({ error: 503, description: render(message('storeUnavailableMaybeApplied'), lang) })).toBe('unknown');
    }
    expect(outcomeOfReply({ error: 503 })).toBe('unknown');
    expect(outcomeOfReply({ error: 500, description: 'x' })).toBe('unknown');
    expect(outcomeOfReply({ error: 0 })).toBe('ok');
    expect(outcomeOfReply({ error: 400, description: 'no stock' })).toBe('fail');
    expect(outcomeOfReply({ error: 404 })).toBe('fail');
  });
});
