import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSinglePortal } from './fixture.js';

describe('reply language', () => {
  let pt: Awaited<ReturnType<typeof startSinglePortal>>;
  let en: Awaited<ReturnType<typeof startSinglePortal>>;
  beforeAll(async () => {
    [pt, en] = await Promise.all([startSinglePortal('pt'), startSinglePortal('en')]);
  });
  afterAll(async () => Promise.all([pt?.stop(), en?.stop()]));

  it.each([
    ['duplicate client', 400, 'Já existe um cliente com o ID 1', 'A client with ID 1 already exists'],
    ['bad price', 400, 'O valor informado para preço é inválido!', 'The price given is invalid!'],
    ['missing order', 404, 'Não há nenhum pedido com o ID 9', 'There is no order with ID 9'],
    ['invalid data detail', 400, 'Dados inválidos: o campo "name" deve ser um texto não vazio', 'Invalid data: the field "name" must be a non-empty string'],
  // docs/spec.md: R-CODE-3
  ])('%s: the same code in both languages, the text in each', async (what, code, ptText, enText) => {
    for (const [portal, text] of [[pt, ptText], [en, enText]] as const) {
      const c = portal.client;
      let reply;
      if (what === 'duplicate client') {
        await c.createClient('1', '{"name": "A"}');
        reply = await c.createClient('1', '{"name": "A"}');
      } else if (what === 'bad price') reply = await c.createProduct('2', '{"name": "A", "price": "x", "quantity": 1}');
      else if (what === 'missing order') reply = await c.deleteOrder('9');
      else reply = await c.createClient('3', '{"name": ""}');
      expect(reply).toEqual({ error: code, description: text });
    }
  });
});
