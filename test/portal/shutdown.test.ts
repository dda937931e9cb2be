import { describe, expect, it } from 'vitest';
import { PortalClient } from '../../src/client/portal-client.js';
import type { Command, Reply } from '../../src/domain/commands.js';
import { SingleBackend } from '../../src/modes/single/backend.js';
import { startPortalServer } from '../../src/portal/server.js';
import { silentLogger } from '../../src/util/log.js';

/** A backend whose writes wait until the test lets them go, to hold a call in flight. */
class GatedBackend extends SingleBackend {
  private release: () => void = () => undefined;
  readonly entered: Promise<void>;
  private signalEntered: () => void = () => undefined;
  private readonly gate = new Promise<void>((resolve) => (this.release = resolve));
  constructor() {
    super();
    this.entered = new Promise((resolve) => (this.signalEntered = resolve));
  }
  override async execute(command: Command): Promise<Reply> {
    this.signalEntered();
    await this.gate;
    return super.execute(command);
  }
  open(): void {
    this.release();
  }
}

describe('graceful shutdown', () => {
  it('stops accepting new calls but lets a call in flight finish', async () => {
    const backend = new GatedBackend();
    const server = await startPortalServer({ backend, lang: 'pt', log: silentLogger, host: '127.0.0.1', ports: [0] });
    const port = server.ports[0]!;
    const client = new PortalClient({ host: '127.0.0.1', port, timeout_ms: 5_000 });
    const inFlight = client.createClient('1', '{"name": "Ana"}');
    await backend.entered;
    const stopped = server.shutdown();
    const late = new PortalClient({ host: '127.0.0.1', port, timeout_ms: 1_000 });
    const refused = await late.retrieveClient('1').then(
      () => 'answered',
      (err: { code?: number }) => err.code,
    );
    expect(refused).toBe(14); // UNAVAILABLE: the server no longer accepts calls.
    backend.open();
    expect(await inFlight).toEqual({ error: 0 });
    await stopped;
    client.close();
    late.close();
  });
});
