import type { ServerResponse } from 'node:http';

/** A JSON answer; errors carry `{ error: "what happened and what to do" }`. */
export function reply(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' }).end(`${JSON.stringify(body)}\n`);
}
