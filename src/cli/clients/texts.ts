import type { Lang } from '../../domain/messages.js';

/** What the interactive clients print, in both languages. */
const TEXTS = {
  adminTitle: { pt: '=== Portal do Administrador ({address}) ===', en: '=== Admin Portal ({address}) ===' },
  orderTitle: { pt: '=== Portal de Pedidos ({address}) — cliente {cid} ===', en: '=== Order Portal ({address}) — client {cid} ===' },
  adminMenu: {
    pt: '1. Criar cliente\n2. Consultar cliente\n3. Atualizar cliente\n4. Remover cliente\n5. Criar produto\n6. Consultar produto\n7. Atualizar produto\n8. Remover produto\n0. Sair',
    en: '1. Create client\n2. Retrieve client\n3. Update client\n4. Delete client\n5. Create product\n6. Retrieve product\n7. Update product\n8. Delete product\n0. Exit',
  },
  orderMenu: {
    pt: '1. Criar pedido\n2. Consultar pedido\n3. Atualizar pedido\n4. Remover pedido\n5. Listar pedidos do cliente\n6. Trocar de cliente (CID)\n0. Sair',
    en: '1. Create order\n2. Retrieve order\n3. Update order\n4. Delete order\n5. List the client\'s orders\n6. Switch client (CID)\n0. Exit',
  },
  choose: { pt: 'Escolha uma opção: ', en: 'Choose an option: ' },
  badChoice: { pt: 'Opção inválida: digite um número de 0 a {max}.', en: 'Invalid option: type a number from 0 to {max}.' },
  askCid: { pt: 'Informe o CID: ', en: 'Enter the CID: ' },
  askPid: { pt: 'Informe o PID: ', en: 'Enter the PID: ' },
  askOid: { pt: 'Informe o OID: ', en: 'Enter the OID: ' },
  askName: { pt: 'Nome: ', en: 'Name: ' },
  askPrice: { pt: 'Preço: ', en: 'Price: ' },
  askQuantity: { pt: 'Quantidade: ', en: 'Quantity: ' },
  askItemPid: { pt: 'PID do produto (linha vazia para terminar): ', en: 'Product PID (empty line to finish): ' },
  askItemQuantity: { pt: 'Quantidade do produto {pid}: ', en: 'Quantity of product {pid}: ' },
  done: { pt: 'Operação realizada com sucesso.', en: 'Done.' },
  failed: { pt: 'Erro {code}: {description}', en: 'Error {code}: {description}' },
  clientFound: { pt: 'Cliente {id}: {data}', en: 'Client {id}: {data}' },
  productFound: { pt: 'Produto {id}: {data}', en: 'Product {id}: {data}' },
  orderFound: { pt: 'Pedido {id} (cliente {cid}): {data}', en: 'Order {id} (client {cid}): {data}' },
  clientNotFound: { pt: 'Cliente {id} não encontrado.', en: 'Client {id} not found.' },
  productNotFound: { pt: 'Produto {id} não encontrado.', en: 'Product {id} not found.' },
  orderNotFound: { pt: 'Pedido {id} não encontrado.', en: 'Order {id} not found.' },
  noOrders: { pt: 'O cliente {cid} não tem pedidos.', en: 'Client {cid} has no orders.' },
  ordersCount: { pt: '{count} pedido(s) do cliente {cid}:', en: '{count} order(s) of client {cid}:' },
  unreachable: {
    pt: 'Não foi possível falar com o servidor em {address} ({reason}). Verifique se ele está rodando (por exemplo: ecom up) e a porta.',
    en: 'Could not reach the server at {address} ({reason}). Check that it is running (for example: ecom up) and the port.',
  },
  tlsFailed: {
    pt: 'A conexão TLS com {address} falhou ({reason}). Verifique se --tls-ca indica a CA que assinou o certificado do servidor.',
    en: "The TLS connection to {address} failed ({reason}). Check that --tls-ca names the CA that signed the server's certificate.",
  },
  denied: {
    pt: 'O servidor em {address} recusou a chamada: {reason}',
    en: 'The server at {address} refused the call: {reason}',
  },
  bye: { pt: 'Até logo!', en: 'Goodbye!' },
} as const;

export type TextKey = keyof typeof TEXTS;

export function text(lang: Lang, key: TextKey, args: Record<string, string | number> = {}): string {
  return TEXTS[key][lang].replace(/\{(\w+)\}/g, (whole, name: string) => (name in args ? String(args[name]) : whole));
}
