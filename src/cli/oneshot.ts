import type { PortalCalls } from '../client/portal-calls.js';
import { isDenied, isTlsFailure, isUnreachable, type Operation } from './clients/operations.js';

/** Exit codes of the one-shot commands, for scripts. */
export const EXIT = { ok: 0, refused: 1, usage: 2, unreachable: 3, denied: 4 } as const;

/**
 * Runs one operation and prints the portal's answer as one line of JSON on stdout. Errors
 * (a refused write, nothing found) also print their text on stderr and exit non-zero.
 */
export async function runOneShot(client: PortalCalls, op: Operation, args: readonly string[]): Promise<number> {
  try {
    const result = await op.run(client, args);
    switch (result.kind) {
      case 'reply':
        process.stdout.write(`${JSON.stringify(result.reply)}\n`);
        if (result.reply.error === 0) return EXIT.ok;
        process.stderr.write(`error ${result.reply.error}: ${result.reply.description ?? ''}\n`);
        return EXIT.refused;
      case 'object':
        process.stdout.write(`${JSON.stringify(result.object)}\n`);
        if (result.found) return EXIT.ok;
        process.stderr.write(`not found: ${args[0] ?? ''}\n`);
        return EXIT.refused;
      case 'list':
        process.stdout.write(`${JSON.stringify(result.orders)}\n`);
        return EXIT.ok;
    }
  } catch (err) {
    if (isDenied(err)) {
      process.stderr.write(`the server at ${client.address} refused the call: ${err.details ?? err.message}\n`);
      return EXIT.denied;
    }
    if (isUnreachable(err) && isTlsFailure(err)) {
      process.stderr.write(`the TLS connection to ${client.address} failed (${err.details ?? err.message}); check that --tls-ca names the CA that signed the server's certificate\n`);
      return EXIT.unreachable;
    }
    if (isUnreachable(err)) {
      process.stderr.write(`no portal server answers at ${client.address} (${err.details ?? err.message}); is it running? (ecom up)\n`);
      return EXIT.unreachable;
    }
    throw err;
  }
}
