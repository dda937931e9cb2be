import type { PortalClient } from '../../client/portal-client.js';
import { pyDumps } from '../../domain/pyjson.js';
import type { Lang } from '../../domain/messages.js';
import { askRequired, EndOfInput, LineReader } from './line-reader.js';
import { isDenied, isTlsFailure, isUnreachable, operation, type OperationResult } from './operations.js';
import { text, type TextKey } from './texts.js';

/**
 * The original's interactive menus: a numbered list, one operation per number, prompts for
 * each field. Works at a terminal and with piped input; ends cleanly at end of input.
 */
interface Session {
  readonly client: PortalClient;
  readonly reader: LineReader;
  readonly lang: Lang;
  readonly print: (line: string) => void;
  cid: string;
}

type MenuAction = (s: Session) => Promise<void>;

async function perform(s: Session, name: string, args: string[], labels: { found?: TextKey; missing?: TextKey } = {}): Promise<void> {
  let result: OperationResult;
  try {
    result = await operation(name).run(s.client, args);
  } catch (err) {
    if (isDenied(err)) {
      s.print(text(s.lang, 'denied', { address: s.client.address, reason: err.details ?? err.message }));
      return;
    }
    if (!isUnreachable(err)) throw err;
    s.print(text(s.lang, isTlsFailure(err) ? 'tlsFailed' : 'unreachable', { address: s.client.address, reason: err.details ?? err.message }));
    return;
  }
  switch (result.kind) {
    case 'reply':
      s.print(result.reply.error === 0 ? text(s.lang, 'done') : text(s.lang, 'failed', { code: result.reply.error, description: result.reply.description ?? '' }));
      return;
    case 'object': {
      const o = result.object as { data: string; CID?: string };
      const id = args[0] ?? '';
      if (result.found && labels.found) s.print(text(s.lang, labels.found, { id, data: o.data, cid: o.CID ?? '' }));
      else if (labels.missing) s.print(text(s.lang, labels.missing, { id }));
      return;
    }
    case 'list':
      if (result.orders.length === 0) s.print(text(s.lang, 'noOrders', { cid: args[0] ?? '' }));
      else {
        s.print(text(s.lang, 'ordersCount', { count: result.orders.length, cid: args[0] ?? '' }));
        for (const order of result.orders) s.print(`  ${order.OID}: ${order.data}`);
      }
  }
}

const ask = (s: Session, key: TextKey, args?: Record<string, string>) => askRequired(s.reader, text(s.lang, key, args));

async function askProductData(s: Session): Promise<string> {
  const name = await ask(s, 'askName');
  const price = await ask(s, 'askPrice');
  const quantity = await ask(s, 'askQuantity');
  return pyDumps({ name, price, quantity });
}

/** Items one by one until an empty product line; quantities are sent as typed, the server validates them. */
async function askOrderItems(s: Session): Promise<string> {
  const items: Array<{ id: string; quantity: string }> = [];
  for (;;) {
    const pid = await s.reader.ask(text(s.lang, 'askItemPid'));
    if (pid === undefined) throw new EndOfInput();
    if (pid === '') return pyDumps(items);
    items.push({ id: pid, quantity: await ask(s, 'askItemQuantity', { pid }) });
  }
}

const ADMIN_ACTIONS: readonly MenuAction[] = [
  async (s) => perform(s, 'create-client', [await ask(s, 'askCid'), pyDumps({ name: await ask(s, 'askName') })]),
  async (s) => perform(s, 'get-client', [await ask(s, 'askCid')], { found: 'clientFound', missing: 'clientNotFound' }),
  async (s) => perform(s, 'update-client', [await ask(s, 'askCid'), pyDumps({ name: await ask(s, 'askName') })]),
  async (s) => perform(s, 'delete-client', [await ask(s, 'askCid')]),
  async (s) => perform(s, 'create-product', [await ask(s, 'askPid'), await askProductData(s)]),
  async (s) => perform(s, 'get-product', [await ask(s, 'askPid')], { found: 'productFound', missing: 'productNotFound' }),
  async (s) => perform(s, 'update-product', [await ask(s, 'askPid'), await askProductData(s)]),
  async (s) => perform(s, 'delete-product', [await ask(s, 'askPid')]),
];

const ORDER_ACTIONS: readonly MenuAction[] = [
  async (s) => {
    const oid = await ask(s, 'askOid');
    return perform(s, 'create-order', [oid, s.cid, await askOrderItems(s)]);
  },
  async (s) => perform(s, 'get-order', [await ask(s, 'askOid')], { found: 'orderFound', missing: 'orderNotFound' }),
  async (s) => {
    const oid = await ask(s, 'askOid');
    return perform(s, 'update-order', [oid, s.cid, await askOrderItems(s)]);
  },
  async (s) => perform(s, 'delete-order', [await ask(s, 'askOid')]),
  async (s) => perform(s, 'list-orders', [s.cid]),
  async (s) => {
    s.cid = await ask(s, 'askCid');
  },
];

export interface InteractiveOptions {
  readonly client: PortalClient;
  readonly lang: Lang;
  readonly input?: NodeJS.ReadableStream;
  readonly output?: NodeJS.WritableStream;
}

async function runMenu(options: InteractiveOptions, actions: readonly MenuAction[], header: (s: Session) => string, menu: TextKey, askCidFirst: boolean): Promise<void> {
  const output = options.output ?? process.stdout;
  const reader = new LineReader(options.input ?? process.stdin, output);
  const s: Session = { client: options.client, reader, lang: options.lang, print: (line) => output.write(`${line}\n`), cid: '' };
  try {
    if (askCidFirst) s.cid = await ask(s, 'askCid');
    for (;;) {
      s.print('');
      s.print(header(s));
      s.print(text(s.lang, menu));
      const choice = await reader.ask(text(s.lang, 'choose'));
      if (choice === undefined || choice === '0') break;
      if (choice === '') continue;
      const action = /^\d+$/.test(choice) ? actions[Number(choice) - 1] : undefined;
      if (action === undefined) s.print(text(s.lang, 'badChoice', { max: actions.length }));
      else await action(s);
    }
  } catch (err) {
    if (!(err instanceof EndOfInput)) throw err;
  } finally {
    reader.close();
  }
  s.print(text(s.lang, 'bye'));
}

export function runAdminClient(options: InteractiveOptions): Promise<void> {
  return runMenu(options, ADMIN_ACTIONS, (s) => text(s.lang, 'adminTitle', { address: s.client.address }), 'adminMenu', false);
}

export function runOrderClient(options: InteractiveOptions): Promise<void> {
  return runMenu(options, ORDER_ACTIONS, (s) => text(s.lang, 'orderTitle', { address: s.client.address, cid: s.cid }), 'orderMenu', true);
}
