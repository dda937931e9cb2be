import { execFileSync, spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PortalClient } from '../../src/client/portal-client.js';
import { ECOM_BIN, spawnEcom, waitForPort, type EcomChild } from '../../src/util/processes.js';
import { runEcom } from '../helpers/ecom.js';
import { freePort } from '../helpers/ports.js';

/**
 * The command-line clients against a real `ecom up --mode single` process, driven through
 * pipes exactly as a script or a person would use them.
 */
describe('ecom command-line clients', () => {
  let system: EcomChild;
  let adminPort: number;
  let orderPort: number;
  let direct: PortalClient;

  beforeAll(async () => {
    [adminPort, orderPort] = [await freePort(), await freePort()];
    system = spawnEcom(['up', '--mode', 'single', '--admin-port', String(adminPort), '--order-port', String(orderPort)], { name: 'up', onLine: null });
    await waitForPort('127.0.0.1', adminPort, 20_000, system);
    await waitForPort('127.0.0.1', orderPort, 20_000, system);
    direct = new PortalClient({ host: '127.0.0.1', port: adminPort });
  });
  afterAll(async () => {
    direct?.close();
    await system?.stop();
  });

  // docs/spec.md: R-CLI-6
  it('runs a whole create/read/update/delete session through the interactive admin menu', async () => {
    const input = [
      '1', '501', 'Ana Maria', // create client
      '2', '501', // read it
      '3', '501', 'Ana Clara', // rename
      '2', '501',
      '5', '601', 'Caneta', '2.50', '8', // create product
      '6', '601',
      '7', '601', 'Caneta azul', '3', '10', // update product
      '6', '601',
      '8', '601', // delete product
      '6', '601',
      '4', '501', // delete client
      '2', '501',
      '0',
    ].join('\n');
    const run = await runEcom(['admin', String(adminPort)], { input });
    expect(run.code).toBe(0);
    expect(run.stderr).toBe('');
    const out = run.stdout;
    expect(out).toContain('=== Portal do Administrador');
    expect(out).toContain('Cliente 501: {"nome": "Ana Maria"}');
    expect(out).toContain('Cliente 501: {"nome": "Ana Clara"}');
    expect(out).toContain('Produto 601: {"nome": "Caneta", "pre\\u00e7o": "2.50", "quantidade": "8"}');
    expect(out).toContain('Produto 601: {"nome": "Caneta azul", "pre\\u00e7o": "3", "quantidade": "10"}');
    expect(out).toContain('Produto 601 não encontrado.');
    expect(out).toContain('Cliente 501 não encontrado.');
    expect(out.match(/Operação realizada com sucesso\./g)).toHaveLength(6);
    expect(out.trimEnd().endsWith('Até logo!')).toBe(true);
  });

  it('runs an order session: asks the CID first, creates, lists, updates, switches client, deletes', async () => {
    await direct.createClient('701', '{"name": "Bia"}');
    await direct.createClient('702', '{"name": "Caio"}');
    await direct.createProduct('801', '{"name": "Lapis", "price": "1.5", "quantity": 10}');
    const input = [
      '701',
      '1', '901', '801', '4', '', // create order 901 with 4 × 801
      '2', '901',
      '3', '901', '801', '2', '', // update to 2
      '5', // list
      '6', '702', // switch client
      '5',
      '4', '901',
      '0',
    ].join('\n');
    const run = await runEcom(['order', String(orderPort), '--lang', 'en'], { input });
    expect(run.code).toBe(0);
    const out = run.stdout;
    expect(out).toContain('Enter the CID: ');
    expect(out).toContain('=== Order Portal (127.0.0.1:' + orderPort + ') — client 701 ===');
    expect(out).toContain('Order 901 (client 701): {"products": [{"PID": "801", "price": "1.5", "quantity": "4", "name": "Lapis"}], "total": "6.0"}');
    expect(out).toContain('1 order(s) of client 701:\n  901: {"products": [{"PID": "801", "price": "1.5", "quantity": "2", "name": "Lapis"}], "total": "3.0"}');
    expect(out).toContain('— client 702 ===');
    expect(out).toContain('Client 702 has no orders.');
    expect(out.match(/Done\./g)).toHaveLength(3);
    expect((await direct.retrieveOrder('901')).OID).toBe('0');
  });

  it('shrugs off nonsense: letters, empty lines and unknown numbers, then ends cleanly at end of input', async () => {
    const run = await runEcom(['admin', String(adminPort)], { input: 'abc\n\n\n42\n-1\n2\n' });
    expect(run.code).toBe(0);
    expect(run.stdout.match(/Opção inválida: digite um número de 0 a 8\./g)).toHaveLength(3);
    expect(run.stdout).toContain('Informe o CID: ');
    expect(run.stdout.trimEnd().endsWith('Até logo!')).toBe(true);
    expect(run.stderr).toBe('');
  });

  it('says clearly when no server answers, without a stack trace', async () => {
    const closed = await freePort();
    const run = await runEcom(['admin', String(closed)], { input: '2\n1\n0\n' });
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`Não foi possível falar com o servidor em 127.0.0.1:${closed}`);
    expect(run.stdout + run.stderr).not.toMatch(/\bat .*\.(ts|js):\d+/);
  });

  describe('one-shot commands', () => {
    // docs/spec.md: R-CLI-7
    it('prints the reply as JSON and exits 0 on success', async () => {
      const created = await runEcom(['admin', 'create-client', '1001', '{"name": "Zé"}', '--port', String(adminPort)]);
      expect(created).toMatchObject({ code: 0, stdout: '{"error":0}\n', stderr: '' });
      const read = await runEcom(['admin', 'get-client', '1001', '--port', String(adminPort)]);
      expect(read.code).toBe(0);
      expect(JSON.parse(read.stdout)).toEqual({ CID: '1001', data: '{"nome": "Z\\u00e9"}' });
    });

    it('takes --port and --host before the operation too; one given after it wins', async () => {
      const created = await runEcom(['admin', '--port', String(adminPort), 'create-client', '1002', '{"name": "Rui"}']);
      expect(created).toMatchObject({ code: 0, stdout: '{"error":0}\n', stderr: '' });
      const read = await runEcom(['admin', '--host', '127.0.0.1', '--port', String(await freePort()), 'get-client', '1002', '--port', String(adminPort)]);
      expect(read.code).toBe(0);
      expect(JSON.parse(read.stdout)).toEqual({ CID: '1002', data: '{"nome": "Rui"}' });
      const missing = await runEcom(['order', '--port', String(orderPort), 'get-order', '424243']);
      expect(missing.code).toBe(1);
      expect(JSON.parse(missing.stdout)).toEqual({ OID: '0', CID: '0', data: '' });
      const menu = await runEcom(['admin', '--port', String(adminPort)], { input: '2\n1002\n0\n' });
      expect(menu.code).toBe(0);
      expect(menu.stdout).toContain('Cliente 1002: {"nome": "Rui"}');
    });

    it('exits 1 with the text on an error reply, and on nothing found', async () => {
      const dup = await runEcom(['admin', 'create-client', '1001', '{"name": "Zé"}', '--port', String(adminPort)]);
      expect(dup.code).toBe(1);
      expect(JSON.parse(dup.stdout)).toEqual({ error: 400, description: 'Já existe um cliente com o ID 1001' });
      expect(dup.stderr).toBe('error 400: Já existe um cliente com o ID 1001\n');
      const missing = await runEcom(['order', 'get-order', '424242', '--port', String(orderPort)]);
      expect(missing.code).toBe(1);
      expect(JSON.parse(missing.stdout)).toEqual({ OID: '0', CID: '0', data: '' });
    });

    it('lists orders as a JSON array', async () => {
      await direct.createClient('1101', '{"name": "Lia"}');
      expect((await runEcom(['order', 'create-order', '1201', '1101', '[]', '--port', String(orderPort)])).code).toBe(0);
      const list = await runEcom(['order', 'list-orders', '1101', '--port', String(orderPort)]);
      expect(list.code).toBe(0);
      expect(JSON.parse(list.stdout)).toEqual([{ OID: '1201', CID: '1101', data: '{"products": [], "total": "0"}' }]);
    });

    it('lists 1,200 orders, a reply longer than a pipe holds, whole to a reader slow to take it', async () => {
      await direct.createClient('1102', '{"name": "Rui"}');
      const orders = new PortalClient({ host: '127.0.0.1', port: orderPort });
      try {
        // About 88 KiB of JSON: more than a Linux pipe holds (64 KiB), so the command must wait for the reader.
        const oids = Array.from({ length: 1200 }, (_, i) => String(20_000 + i));
        for (let i = 0; i < oids.length; i += 100) await Promise.all(oids.slice(i, i + 100).map((oid) => orders.createOrder(oid, '1102', '[]')));
      } finally {
        orders.close();
      }
      // A real pipe (a FIFO): Node gives a child's 'pipe' stdio a socket pair, whose ~200 KiB
      // buffer took the whole reply at once, so the command never waited for this reader; and a
      // child that finished inside the 300 ms below had its output and its close event gone
      // before the listeners came (the test then hung).
      const folder = mkdtempSync(join(tmpdir(), 'ecom-fifo-'));
      const fifo = join(folder, 'stdout');
      execFileSync('mkfifo', [fifo]);
      const opening = open(fifo, 'r'); // waits on the thread pool for the writer below
      const writeEnd = openSync(fifo, 'w');
      const reader = await opening;
      const child = spawn(process.execPath, [ECOM_BIN, 'order', 'list-orders', '1102', '--port', String(orderPort)], { stdio: ['ignore', writeEnd, 'pipe'] });
      closeSync(writeEnd);
      let stderr = '';
      child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const closed = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
      try {
        // Not a synchronisation: the reader is slow on purpose, and the output must be whole however slow.
        await new Promise((resolve) => setTimeout(resolve, 300));
        const chunks: Buffer[] = [];
        for (;;) {
          const { bytesRead, buffer } = await reader.read(Buffer.alloc(16 * 1024), 0, 16 * 1024, null);
          if (bytesRead === 0) break;
          chunks.push(buffer.subarray(0, bytesRead));
        }
        const out = Buffer.concat(chunks);
        expect(await closed, `${out.length} bytes out, stderr: ${stderr}`).toBe(0);
        const listed = JSON.parse(out.toString('utf8')) as Array<{ OID: string }>;
        expect(listed).toHaveLength(1200);
        expect(out.length).toBeGreaterThan(64 * 1024);
      } finally {
        // Never left behind, whatever failed.
        if (child.exitCode === null) child.kill('SIGKILL');
        await reader.close();
        rmSync(folder, { recursive: true, force: true });
      }
    });

    it('exits 3 when no server answers and 2 on a usage error', async () => {
      const down = await runEcom(['admin', 'get-client', '1', '--port', String(await freePort())]);
      expect(down.code).toBe(3);
      expect(down.stderr).toMatch(/no portal server answers at 127\.0\.0\.1:\d+/);
      const usage = await runEcom(['admin', 'create-client', '1']);
      expect(usage.code).toBe(2);
      expect(usage.stderr).toContain("missing required argument 'data'");
      const badPort = await runEcom(['admin', 'not-a-port']);
      expect(badPort.code).toBe(2);
      expect(badPort.stderr).toContain('"not-a-port" is neither a port nor an operation');
    });
  });

  it('explains itself with --help and examples', async () => {
    for (const args of [['--help'], ['up', '--help'], ['admin', '--help'], ['order', 'create-order', '--help'], ['admin-server', '--help']]) {
      const run = await runEcom(args);
      expect(run.code, args.join(' ')).toBe(0);
      expect(run.stdout, args.join(' ')).toMatch(/Usage: ecom/);
      expect(run.stdout, args.join(' ')).toMatch(/Example/);
    }
  });
});

describe('ecom up and servers', () => {
  // docs/spec.md: R-CLI-2, R-PORT-2
  it('stops cleanly with exit code 0 on SIGTERM and on SIGINT', async () => {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      const port = await freePort();
      const server = spawnEcom(['admin-server', String(port), '--mode', 'single'], { name: 'server', onLine: null });
      await waitForPort('127.0.0.1', port, 20_000, server);
      server.process.kill(signal);
      expect(await server.exited).toBe(0);
    }
  });

  it('refuses an unknown mode and a busy port with a clear message', async () => {
    const mode = await runEcom(['up', '--mode', 'nosuch']);
    expect(mode.code).not.toBe(0);
    expect(mode.stderr).toContain('unknown mode "nosuch"');
    const port = await freePort();
    const first = spawnEcom(['admin-server', String(port), '--mode', 'single'], { name: 'first', onLine: null });
    try {
      await waitForPort('127.0.0.1', port, 20_000, first);
      const second = await runEcom(['admin-server', String(port), '--mode', 'single']);
      expect(second.code).not.toBe(0);
      expect(second.stderr).toContain(`port ${port} is in use`);
    } finally {
      await first.stop();
    }
  });

  it('takes the language from ECOM_LANG', async () => {
    const port = await freePort();
    const server = spawnEcom(['admin-server', String(port), '--mode', 'single'], { name: 'en', onLine: null, env: { ECOM_LANG: 'en' } });
    try {
      await waitForPort('127.0.0.1', port, 20_000, server);
      const run = await runEcom(['admin', 'delete-client', '5', '--port', String(port)]);
      expect(JSON.parse(run.stdout)).toEqual({ error: 404, description: 'There is no client with ID 5' });
    } finally {
      await server.stop();
    }
  });
});
