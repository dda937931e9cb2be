import { createServer, type AddressInfo } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FLOOR_FRAME_BYTES, FloorFrameReader, FloorKind, floorFrame } from '../../src/bench/floor-protocol.js';
import { startVisibilityFloor } from '../../src/bench/systems.js';
import { freePort } from '../../src/util/ports.js';
import { spawnEcom, waitForPort } from '../../src/util/processes.js';
import { visibilityFloorWorkload } from '../../src/bench/visibility-floor.js';
import { openLoopback, sendGarbage } from '../helpers/garbage.js';
import { running } from '../helpers/processes.js';
import { testSeed } from '../helpers/seed.js';
import { expectCleanedUp, expectSaneRun, runBench } from './run-bench.js';

/**
 * The machine's floor under mqtt mode's visibility figure: real stand-in processes for the
 * broker and three portals on loopback, probed as the bench probes them. Their ports take
 * whatever anyone sends: a frame out of place closes that connection and nothing else.
 */
describe('the visibility floor', () => {
  it('cuts frames wherever the stream is cut, and refuses a kind out of place (seeded)', () => {
    const seed = testSeed('floor frames cut anywhere');
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom(FloorKind.write, FloorKind.read), fc.nat({ max: 0xffffffff })), { maxLength: 40 }),
        fc.array(fc.integer({ min: 1, max: 12 }), { minLength: 1, maxLength: 20 }),
        fc.option(fc.integer({ min: 0, max: 255 }).filter((k) => k !== FloorKind.write && k !== FloorKind.read), { nil: undefined }),
        (frames, cuts, badKind) => {
          const seen: Array<[number, number]> = [];
          const reader = new FloorFrameReader(new Set([FloorKind.write, FloorKind.read]), (kind, id) => seen.push([kind, id]));
          const bytes = Buffer.concat([...frames.map(([kind, id]) => floorFrame(kind, id)), ...(badKind === undefined ? [] : [Buffer.from([badKind, 0, 0, 0, 1])])]);
          let refused: string | undefined;
          for (let at = 0, i = 0; at < bytes.length; i++) {
            const next = Math.min(bytes.length, at + (cuts[i % cuts.length] ?? 1));
            refused = reader.push(bytes.subarray(at, next)) ?? refused;
            at = next;
          }
          expect(seen).toEqual(frames);
          if (badKind === undefined) expect(refused).toBeUndefined();
          else expect(refused).toBe(`a frame of kind ${badKind} where only ${FloorKind.write}, ${FloorKind.read} may come`);
        },
      ),
      { seed, numRuns: 500 },
    );
  });

  it('answers the probe through real stand-in processes, outlives garbage on every port (seeded), and leaves no process', async () => {
    const seed = testSeed('floor stand-ins outlive garbage');
    const floor = await startVisibilityFloor(3);
    const pids = floor.pids?.() ?? [];
    expect(pids).toHaveLength(4);
    try {
      const probe = async () => {
        const prepared = await visibilityFloorWorkload.prepare({ target: { kind: 'floor', ports: floor.ports }, worker: 1, runTag: 't', timeout_ms: 5_000, grpcClient: 'lean' });
        for (let i = 0; i < 150; i++) expect(await prepared.op()).toBe(true);
        await prepared.close();
      };
      await probe();

      // A frame out of place: that connection is closed, by the portal and by the broker alike.
      for (const port of [floor.ports[0]!, floor.brokerPort]) {
        const socket = await openLoopback(port);
        socket.on('error', () => undefined);
        socket.write(Buffer.from([FloorKind.found, 0, 0, 0, 7]));
        await new Promise((resolve) => socket.once('close', resolve));
      }

      // Random bytes of random lengths to random stand-ins, some of them well-formed frames.
      await sendGarbage([...floor.ports, floor.brokerPort], seed, 3 * FLOOR_FRAME_BYTES + 2);

      // Every stand-in still runs and still answers.
      for (const pid of pids) expect(running(pid), `stand-in ${pid}`).toBe(true);
      await probe();
    } finally {
      await floor.stop();
    }
    for (const pid of pids) expect(running(pid), `stand-in ${pid} after stop`).toBe(false);
  }, 60_000);

  it('is measured first by `ecom bench mqtt`, and each visibility verdict names it', async () => {
    const { results, output } = await runBench(['mqtt', '--brokers', 'embedded', '--duration', '0.5', '--warmup', '0.2']);
    expect(results.runs.map((r) => [r.workload, r.rate_per_s ?? r.concurrency])).toEqual([
      ['visibility-floor', 250],
      ['visibility-floor', 1_000],
      ['create-order', 1],
      ['create-order', 64],
      ['visibility', 250],
      ['visibility', 1_000],
    ]);
    for (const run of results.runs) expectSaneRun(run);
    expect(results.runs[0]?.system).toBe('machine floor: bare TCP stand-ins for a broker and 3 portals, each its own process');
    expect(results.runs[0]?.grpcClient, 'the floor has no gRPC client').toBeUndefined();
    expect(output).toMatch(/visible on all 3 portals at 250 writes\/s: p50 ≤ 2 ms, p99 ≤ 5 ms: embedded: p50 [\d.]+ ms, p99 [\d.]+ ms \(the machine's floor, bare stand-ins on the same hops: p50 [\d.]+ ms, p99 [\d.]+ ms\)/);
    expect(output).toMatch(/visible on all 3 portals at 1,000 writes\/s: p99 ≤ 10 ms: embedded: .*\(the machine's floor/);
    expectCleanedUp(output);
  }, 150_000);

  it('a portal stand-in stopped by its parent exits 0; one whose broker goes away exits 1 and says so', async () => {
    const floor = await startVisibilityFloor(1);
    const portal = async () => {
      const port = await freePort();
      const child = spawnEcom(['bench-floor-node', 'portal', '--port', String(port), '--broker-port', String(floor.brokerPort)], { name: 'floor-portal', onLine: null });
      await waitForPort('127.0.0.1', port, 30_000, child);
      return child;
    };
    try {
      expect(await (await portal()).stop()).toBe(0);
      const orphaned = await portal();
      await floor.stop();
      expect(await orphaned.exited).toBe(1);
      expect(orphaned.recentOutput().join('\n')).toMatch(/the broker stand-in closed the connection; stopping/);
    } finally {
      await floor.stop();
    }
  }, 60_000);

  it('fails a request that is not answered in time, naming the port, as the measured clients do', async () => {
    // A listener that takes connections and never answers: a hung stand-in.
    const silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as AddressInfo).port;
    try {
      const prepared = await visibilityFloorWorkload.prepare({ target: { kind: 'floor', ports: [port, port] }, worker: 0, runTag: 't', timeout_ms: 200, grpcClient: 'lean' });
      const started = performance.now();
      await expect(prepared.op()).rejects.toThrow(new RegExp(`the stand-in on port ${port} did not answer id 0 within 200 ms`));
      expect(performance.now() - started).toBeGreaterThanOrEqual(190);
      await prepared.close();
    } finally {
      silent.close();
    }
  });

  it('refuses a target that is not the floor, naming it', async () => {
    await expect(visibilityFloorWorkload.prepare({ target: { kind: 'portal', host: '127.0.0.1', port: 1 }, worker: 0, runTag: 't', timeout_ms: 1_000, grpcClient: 'lean' })).rejects.toThrow(/visibility-floor needs the floor's stand-ins, not portal/);
  });
});
