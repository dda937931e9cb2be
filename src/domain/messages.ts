/**
 * Every text a user can receive from the business rules, in Portuguese (the original's
 * texts, the default) and English. The state machine returns a message key with arguments;
 * the portal renders it in its language, so replicas and portals never disagree on a code
 * because of a language setting.
 */
export type Lang = 'pt' | 'en';

export const LANGS: readonly Lang[] = ['pt', 'en'];

export function parseLang(text: string | undefined): Lang | undefined {
  if (text === undefined || text === '') return undefined;
  const lower = text.toLowerCase();
  if (lower === 'pt' || lower.startsWith('pt-') || lower.startsWith('pt_')) return 'pt';
  if (lower === 'en' || lower.startsWith('en-') || lower.startsWith('en_')) return 'en';
  return undefined;
}

const CATALOGUE = {
  // Replies of the rules tables (docs/spec.md, Rules).
  clientExists: { pt: 'Já existe um cliente com o ID {id}', en: 'A client with ID {id} already exists' },
  invalidData: { pt: 'Dados inválidos: {detail}', en: 'Invalid data: {detail}' },
  clientMissing: { pt: 'Não há nenhum usuário com o ID {id}', en: 'There is no client with ID {id}' },
  clientHasOrders: {
    pt: 'Não é possível remover o cliente, pois ele possui pedidos',
    en: 'The client cannot be removed because it has orders',
  },
  productExists: { pt: 'Já existe um produto com o ID {id}', en: 'A product with ID {id} already exists' },
  priceInvalid: { pt: 'O valor informado para preço é inválido!', en: 'The price given is invalid!' },
  quantityInvalid: { pt: 'O valor informado para quantidade é inválido!', en: 'The quantity given is invalid!' },
  productMissing: { pt: 'Não há nenhum produto com o ID {id}', en: 'There is no product with ID {id}' },
  productInOrderUpdate: {
    pt: 'Não é possível atualizar o produto, pois ele já está presente em um pedido',
    en: 'The product cannot be updated because it is already in an order',
  },
  productInOrderDelete: {
    pt: 'Não é possível remover o produto, pois ele já está presente em um pedido',
    en: 'The product cannot be removed because it is already in an order',
  },
  orderClientNotFound: { pt: 'Cliente não encontrado: {id}', en: 'Client not found: {id}' },
  orderExists: { pt: 'Já existe um pedido com o ID {id}', en: 'An order with ID {id} already exists' },
  orderProductNotFound: { pt: 'Produto não encontrado: {id}', en: 'Product not found: {id}' },
  stockUnavailable: {
    pt: 'Quantidade indisponível de produto com ID {id}',
    en: 'Not enough stock of the product with ID {id}',
  },
  orderNotFound: { pt: 'Pedido não encontrado: {id}', en: 'Order not found: {id}' },
  productUnavailable: {
    pt: 'Produto indisponível para operação: {id}',
    en: 'Not enough stock of the product for this change: {id}',
  },
  orderMissing: { pt: 'Não há nenhum pedido com o ID {id}', en: 'There is no order with ID {id}' },
  invalidId: { pt: 'ID inválido: {detail}', en: 'Invalid ID: {detail}' },
  storeUnavailableNotApplied: {
    pt: 'O armazenamento de dados não respondeu a tempo; nada foi alterado. Tente novamente.',
    en: 'The data store did not answer in time; nothing was changed. Please try again.',
  },
  storeUnavailableMaybeApplied: {
    pt: 'O armazenamento de dados não respondeu a tempo; a operação pode ter sido aplicada. Consulte antes de repetir.',
    en: 'The data store did not answer in time; the operation may have been applied. Read it back before retrying.',
  },
  internalError: {
    pt: 'Erro interno inesperado ({detail}). Consulte o log do servidor.',
    en: 'Unexpected internal error ({detail}). See the server log.',
  },

  // Details that fill {detail} above.
  detailMalformedJson: { pt: 'JSON malformado ({reason})', en: 'malformed JSON ({reason})' },
  detailTooLarge: { pt: 'os dados têm mais de {max} bytes', en: 'the data is larger than {max} bytes' },
  detailTooDeep: { pt: 'o JSON tem mais de {max} níveis de aninhamento', en: 'the JSON is nested deeper than {max} levels' },
  detailNotObject: { pt: 'era esperado um objeto JSON, como {example}', en: 'a JSON object was expected, such as {example}' },
  detailNameMissing: {
    pt: 'o campo "name" deve ser um texto não vazio',
    en: 'the field "name" must be a non-empty string',
  },
  detailNameTooLong: {
    pt: 'o campo "name" tem mais de {max} caracteres',
    en: 'the field "name" is longer than {max} characters',
  },
  detailOrderNotList: {
    pt: 'era esperada uma lista de itens, como [{"id": "1", "quantity": "3"}]',
    en: 'a list of items was expected, such as [{"id": "1", "quantity": "3"}]',
  },
  detailItemNotObject: { pt: 'o item {n} não é um objeto', en: 'item {n} is not an object' },
  detailItemIdMissing: {
    pt: 'o item {n} não tem "id" (texto ou número inteiro)',
    en: 'item {n} has no "id" (a string or an integer)',
  },
  detailTooManyItems: { pt: 'o pedido tem mais de {max} itens', en: 'the order has more than {max} items' },
  detailIdEmpty: { pt: 'o ID está vazio', en: 'the ID is empty' },
  detailIdTooLong: { pt: 'o ID tem mais de {max} caracteres', en: 'the ID is longer than {max} characters' },
  detailIdControl: { pt: 'o ID contém caracteres de controle', en: 'the ID contains control characters' },
  detailIdZero: {
    pt: '"0" é reservado para indicar "não encontrado"',
    en: '"0" is reserved to mean "not found"',
  },
  detailItemId: { pt: 'item {n}: {detail}', en: 'item {n}: {detail}' },
} as const satisfies Record<string, Record<Lang, string>>;

export type MessageKey = keyof typeof CATALOGUE;

export interface Message {
  key: MessageKey;
  args?: Record<string, string | number | Message>;
}

export function message(key: MessageKey, args?: Record<string, string | number | Message>): Message {
  return args === undefined ? { key } : { key, args };
}

export function render(msg: Message, lang: Lang): string {
  const template: string = CATALOGUE[msg.key][lang];
  return template.replace(/\{(\w+)\}/g, (whole, name: string) => {
    const arg = msg.args?.[name];
    if (arg === undefined) return whole;
    return typeof arg === 'object' ? render(arg, lang) : String(arg);
  });
}

export function isMessageKey(key: string): key is MessageKey {
  return Object.hasOwn(CATALOGUE, key);
}
