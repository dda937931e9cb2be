import { createServer, request, type Server } from 'node:http';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { guarded } from '../../src/util/http-guard.js';

/** The net under ecom's HTTP servers: a handler's bug answers 500 and is logged; the process serves on. */

const logged: string[] = [];
const log = pino({ level: 'error' }, { write: (line: string) => void logged.push(line) });
let server: Server;
let port = 0;

function get(path: string): Promise<{ status: number; body: string } | { cut: true }> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', () => resolve({ cut: true }));
    });
    req.on('error', () => resolve({ cut: true }));
    req.end();
  });
}

beforeAll(async () => {
  server = createServer(
    guarded('test server', log, (req, res) => {
      if (req.url === '/throws') throw new Error('a bug on the way in');
      if (req.url === '/rejects') return Promise.reject(new Error('a bug later on'));
      if (req.url === '/half') {
        res.writeHead(200).write('some of it');
        throw new Error('a bug half way');
      }
      res.writeHead(200).end('fine');
      return undefined;
    }),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  port = typeof address === 'object' && address !== null ? address.port : 0;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe('guarded', () => {
  it('answers 500 for a handler that throws or rejects, logs it, and goes on serving', async () => {
    expect(await get('/throws')).toEqual({ status: 500, body: 'the test server failed on this request: a bug on the way in\n' });
    expect(await get('/rejects')).toEqual({ status: 500, body: 'the test server failed on this request: a bug later on\n' });
    expect(await get('/')).toEqual({ status: 200, body: 'fine' });
    expect(logged.map((line) => (JSON.parse(line) as { msg: string; target: string }).target)).toEqual(['"/throws"', '"/rejects"']);
    expect(logged[0]).toContain('the test server failed on a request; it goes on serving');
  });

  it('cuts the connection of an answer that had begun, rather than finish it as if whole', async () => {
    expect(await get('/half'), 'a chunked answer without its last chunk: the client sees it cut').toEqual({ cut: true });
    expect(await get('/')).toEqual({ status: 200, body: 'fine' });
  });
});
