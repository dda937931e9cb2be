// The floor under issue #18's figures on this machine: ecom's storage design with none of its
// work. A leader and two followers, each its own process, append every batch of 128-byte writes to
// a file and fdatasync it on libuv's thread pool, one sync at a time with the batch growing while
// one runs (group commit, as ecom's log does); the leader sends each batch to both followers before
// its own sync and answers it once its own sync and one follower's are over. Load processes keep
// --concurrency writes in flight in a closed loop, as `ecom bench run put -c N` does. Each
// stand-in times a 10 ms interval, as every replica's ticker does, and reports the longest
// lateness in the measured window with what /proc/self/schedstat says the thread did meanwhile.
// No implementation of the design can beat these figures here, so ecom's own (run them side by
// side, one after the other) read against them say what ecom's work costs. --apply-us N adds N µs
// of CPU per write on every stand-in's event loop, in one piece per batch once it is committed
// (as a replica applies a Ready's entries), to find how much work per write the stall allows;
// --slice-us N applies in pieces of at most N µs, each its own turn of the event loop.
//   node --import tsx bench/replication-floor.ts [--seconds S] [--warmup S] [--concurrency N]
//     [--workers N] [--apply-us N] [--slice-us N]
import { fork, type ChildProcess } from 'node:child_process';
import { fdatasync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Histogram, type HistogramJson } from '../src/bench/histogram.js';
import { describeMachine, fmtMs, probeMachine } from '../src/bench/machine.js';
import { numberArg } from './script-args.js';

/** About a put entry of `ecom bench run put`: a CreateClient with its session, framed. */
const WRITE_BYTES = 128;
const ID_BYTES = 4;
/** A batch header: its length and sequence number. */
const HEADER_BYTES = 8;
/** A batch larger than this is a broken peer (512 writes in flight make about 64 KiB). */
const MAX_BATCH_BYTES = 16 << 20;
const TICK_MS = 10;
/** ecom's replicas write a stall line from here (a sixth of their election timeout). */
const STALL_MS = 50;
const CONNECTIONS_PER_WORKER = 8;
const MAX_BATCHES_TO_APPLY = 100_000;

interface StallReport {
  readonly name: string;
  readonly longest_ms: number;
  readonly running_ms: number;
  readonly waitingForCpu_ms: number;
  readonly intervalsOver50: number;
  readonly cpu_ms: number;
}
interface WorkerResult {
  readonly writes: number;
  readonly latency: HistogramJson;
  readonly cpu_ms: number;
}
type ToParent = { port: number } | { report: StallReport } | { result: WorkerResult };

const fail = (message: string): never => {
  process.stderr.write(`replication floor: ${message}\n`);
  process.exit(1);
};

/** The main thread's ns on a CPU and waiting in a run queue (Linux). */
function mainThreadSchedule(): [number, number] {
  const [running, waiting] = readFileSync('/proc/self/schedstat', 'latin1').split(' ').map(Number);
  return [running ?? 0, waiting ?? 0];
}

/** A stand-in's ticker: its longest lateness since the parent said the measured window began. */
class Ticker {
  private last = performance.now();
  private lastSchedule = mainThreadSchedule();
  private longest = { late: 0, running: 0, waiting: 0 };
  private over = 0;
  private cpuFrom = process.cpuUsage();

  constructor(private readonly name: string) {
    setInterval(() => this.tick(), TICK_MS);
  }

  measureFromNow(): void {
    this.longest = { late: 0, running: 0, waiting: 0 };
    this.over = 0;
    this.cpuFrom = process.cpuUsage();
  }

  report(): StallReport {
    const cpu = process.cpuUsage(this.cpuFrom);
    const l = this.longest;
    return { name: this.name, longest_ms: l.late, running_ms: l.running, waitingForCpu_ms: l.waiting, intervalsOver50: this.over, cpu_ms: (cpu.user + cpu.system) / 1000 };
  }

  private tick(): void {
    const now = performance.now();
    const s = mainThreadSchedule();
    const late = now - this.last - TICK_MS;
    if (late >= STALL_MS) this.over++;
    if (late > this.longest.late) this.longest = { late, running: (s[0] - this.lastSchedule[0]) / 1e6, waiting: (s[1] - this.lastSchedule[1]) / 1e6 };
    this.last = now;
    this.lastSchedule = s;
  }
}

/** Appends to a file; one fdatasync at a time, covering everything written before it began. */
class GroupCommitLog {
  private readonly fd: number;
  private syncing = false;
  private waiting: Array<() => void> = [];

  constructor(file: string) {
    this.fd = openSync(file, 'a');
  }

  append(data: Buffer, durable: () => void): void {
    writeSync(this.fd, data);
    this.waiting.push(durable);
    if (!this.syncing) this.sync();
  }

  private sync(): void {
    const covered = this.waiting;
    this.waiting = [];
    this.syncing = true;
    fdatasync(this.fd, (err) => {
      if (err) fail(`fdatasync: ${err.message}`);
      this.syncing = false;
      for (const done of covered) done();
      if (this.waiting.length > 0) this.sync();
    });
  }
}

/** Calls `onFrames` with every whole run of `size`-byte frames that arrives, keeping the rest. */
function onFixedFrames(socket: Socket, size: number, onFrames: (frames: Buffer) => void): void {
  let rest = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    const data = rest.length === 0 ? chunk : Buffer.concat([rest, chunk]);
    const whole = data.length - (data.length % size);
    if (whole > 0) onFrames(data.subarray(0, whole));
    rest = Buffer.from(data.subarray(whole));
  });
}

function listen(onSocket: (socket: Socket) => void): void {
  const server = createServer((socket) => {
    socket.setNoDelay(true);
    socket.on('error', () => socket.destroy());
    onSocket(socket);
  });
  server.listen(0, '127.0.0.1', () => process.send?.({ port: (server.address() as AddressInfo).port } satisfies ToParent));
}

/**
 * A fixed count of steps of arithmetic: CPU work that does not shrink when the thread loses its
 * core in the middle, as a loop on the clock would. Returns a value so that the work is kept.
 */
function spinSteps(steps: number): number {
  let x = 0;
  for (let i = steps; i > 0; i--) x = (x * 31 + i) | 0;
  return x;
}

/**
 * Stands in for applying committed writes, in order: `applyUs` µs of CPU each, a batch in one
 * piece, or with `sliceUs` in pieces of at most that, each its own turn of the event loop.
 */
class Applier {
  private readonly queue: Array<{ work_us: number; done: () => void }> = [];
  private scheduled = false;
  /** Steps of spinSteps per µs of CPU here: the fastest of five rounds, taken before the load starts. */
  private readonly stepsPerUs: number;
  /** What the steps computed, kept so that no compiler drops them. */
  checksum = 0;

  constructor(
    private readonly applyUs: number,
    private readonly sliceUs: number,
  ) {
    const steps = 5_000_000;
    let fastest_us = Infinity;
    for (let round = 0; applyUs > 0 && round < 5; round++) {
      const started = process.cpuUsage();
      this.checksum ^= spinSteps(steps);
      const used = process.cpuUsage(started);
      fastest_us = Math.min(fastest_us, used.user + used.system);
    }
    this.stepsPerUs = steps / Math.max(1, fastest_us);
  }

  apply(writes: number, done: () => void): void {
    // The closed loop's requests in flight bound what waits here; far more is a broken stand-in.
    if (this.queue.length >= MAX_BATCHES_TO_APPLY) fail(`${this.queue.length} batches wait to be applied`);
    this.queue.push({ work_us: writes * this.applyUs, done });
    if (this.sliceUs === 0) this.run(Infinity);
    else this.schedule();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.run(this.sliceUs);
      if (this.queue.length > 0) this.schedule();
    });
  }

  private run(budget_us: number): void {
    while (this.queue.length > 0 && budget_us > 0) {
      const head = this.queue[0]!;
      const piece = Math.min(head.work_us, budget_us);
      this.checksum ^= spinSteps(Math.round(piece * this.stepsPerUs));
      head.work_us -= piece;
      budget_us -= piece;
      if (head.work_us <= 0) {
        this.queue.shift();
        head.done();
      }
    }
  }
}

function follower(file: string, applier: Applier): void {
  const ticker = new Ticker(`follower ${file.slice(-1)}`);
  const log = new GroupCommitLog(file);
  obeyParent(ticker);
  listen((socket) => {
    let rest = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      let data = rest.length === 0 ? chunk : Buffer.concat([rest, chunk]);
      while (data.length >= HEADER_BYTES) {
        const length = data.readUInt32LE(0);
        if (length > MAX_BATCH_BYTES || length % WRITE_BYTES !== 0) {
          // Not the leader stand-in's: that connection goes, the follower serves on.
          process.stderr.write(`replication floor: follower refused a batch of ${length} bytes (whole ${WRITE_BYTES}-byte writes, at most ${MAX_BATCH_BYTES} bytes); closing that connection\n`);
          socket.destroy();
          return;
        }
        if (data.length < HEADER_BYTES + length) break;
        const ack = Buffer.alloc(4);
        ack.writeUInt32LE(data.readUInt32LE(4));
        const writes = length / WRITE_BYTES;
        log.append(data.subarray(HEADER_BYTES, HEADER_BYTES + length), () => {
          if (!socket.destroyed) socket.write(ack);
          applier.apply(writes, () => {});
        });
        data = data.subarray(HEADER_BYTES + length);
      }
      rest = Buffer.from(data);
    });
  });
}

interface Batch {
  readonly seq: number;
  readonly writes: number;
  synced: boolean;
  /** Each client connection's ids in this batch, answered in one write. */
  readonly answers: Map<Socket, Buffer[]>;
}

function leader(file: string, followerPorts: number[], applier: Applier): void {
  const ticker = new Ticker('leader');
  const log = new GroupCommitLog(file);
  obeyParent(ticker);
  const open: Batch[] = [];
  let pending: Array<{ socket: Socket; frames: Buffer }> = [];
  let flushing = false;
  let seq = 0;
  let replicated = 0;
  const answerCommitted = () => {
    for (let batch = open[0]; batch !== undefined && batch.synced && batch.seq <= replicated; batch = open[0]) {
      open.shift();
      applier.apply(batch.writes, () => {
        for (const [socket, ids] of batch.answers) if (!socket.destroyed) socket.write(Buffer.concat(ids));
      });
    }
  };
  const followers = followerPorts.map((port) => {
    const socket = connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    socket.on('error', (err) => fail(`a follower's connection: ${err.message}`));
    onFixedFrames(socket, 4, (acks) => {
      // Each follower acknowledges its batches in order: the last is the one that counts.
      replicated = Math.max(replicated, acks.readUInt32LE(acks.length - 4));
      answerCommitted();
    });
    return socket;
  });
  const flush = () => {
    flushing = false;
    const body = Buffer.concat(pending.map((p) => p.frames));
    const batch: Batch = { seq: ++seq, writes: body.length / WRITE_BYTES, synced: false, answers: new Map() };
    for (const { socket, frames } of pending) {
      const ids = Buffer.alloc((frames.length / WRITE_BYTES) * ID_BYTES);
      for (let i = 0; i * WRITE_BYTES < frames.length; i++) frames.copy(ids, i * ID_BYTES, i * WRITE_BYTES, i * WRITE_BYTES + ID_BYTES);
      const mine = batch.answers.get(socket);
      if (mine === undefined) batch.answers.set(socket, [ids]);
      else mine.push(ids);
    }
    pending = [];
    open.push(batch);
    const header = Buffer.alloc(HEADER_BYTES);
    header.writeUInt32LE(body.length, 0);
    header.writeUInt32LE(batch.seq, 4);
    for (const f of followers) f.write(Buffer.concat([header, body]));
    log.append(body, () => {
      batch.synced = true;
      answerCommitted();
    });
  };
  listen((socket) =>
    onFixedFrames(socket, WRITE_BYTES, (frames) => {
      pending.push({ socket, frames: Buffer.from(frames) });
      if (!flushing) {
        flushing = true;
        setImmediate(flush);
      }
    }),
  );
}

/** A stand-in measures from the parent's word, reports on its next, and goes when the parent does. */
function obeyParent(ticker: Ticker): void {
  process.on('message', (m: { measure?: true; report?: true }) => {
    if (m.measure) ticker.measureFromNow();
    if (m.report) process.send?.({ report: ticker.report() } satisfies ToParent);
  });
  process.on('disconnect', () => process.exit(0));
}

function loadWorker(port: number, inFlight: number, warmup_ms: number, measured_ms: number): void {
  const latency = new Histogram();
  const started = performance.now();
  const measureFrom = started + warmup_ms;
  const measureTo = measureFrom + measured_ms;
  let writes = 0;
  let cpuFrom = process.cpuUsage();
  let nextId = 0;
  for (let c = 0; c < CONNECTIONS_PER_WORKER; c++) {
    const socket = connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    socket.on('error', (err) => fail(`the leader's connection: ${err.message}`));
    const sent: Array<{ id: number; at: number }> = [];
    const send = () => {
      const frame = Buffer.alloc(WRITE_BYTES, 0x61);
      const id = nextId++ >>> 0;
      frame.writeUInt32LE(id);
      sent.push({ id, at: performance.now() });
      socket.write(frame);
    };
    socket.on('connect', () => {
      const share = Math.floor(inFlight / CONNECTIONS_PER_WORKER) + (c < inFlight % CONNECTIONS_PER_WORKER ? 1 : 0);
      for (let i = 0; i < share; i++) send();
    });
    onFixedFrames(socket, ID_BYTES, (ids) => {
      const now = performance.now();
      for (let at = 0; at < ids.length; at += ID_BYTES) {
        const request = sent.shift();
        if (request === undefined || request.id !== ids.readUInt32LE(at)) return fail('the leader answered a write that was not the oldest in flight');
        if (now >= measureFrom && now < measureTo) {
          latency.record_ms(now - request.at);
          writes++;
        }
        if (now < measureTo) send();
      }
    });
  }
  setTimeout(() => (cpuFrom = process.cpuUsage()), warmup_ms);
  setTimeout(() => {
    const cpu = process.cpuUsage(cpuFrom);
    process.send?.({ result: { writes, latency: latency.toJSON(), cpu_ms: (cpu.user + cpu.system) / 1000 } } satisfies ToParent, () => process.exit(0));
  }, warmup_ms + measured_ms);
}

function child(args: string[], onMessage: (m: ToParent) => void): ChildProcess {
  const c = fork(process.argv[1]!, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  c.on('message', (m) => onMessage(m as ToParent));
  c.on('exit', (code) => {
    if (code !== 0 && code !== null && !stopping) fail(`a child (${args[0]}) exited with code ${code}`);
  });
  return c;
}

let stopping = false;

async function main(): Promise<void> {
  const seconds = numberArg('--seconds', 20);
  const warmup = numberArg('--warmup', 3);
  const inFlight = numberArg('--concurrency', 512);
  const workers = numberArg('--workers', 2);
  const applyUs = numberArg('--apply-us', 0, 0);
  const sliceUs = numberArg('--slice-us', 0, 0);
  const dir = mkdtempSync(join(tmpdir(), 'ecom-replication-floor-'));
  const children: ChildProcess[] = [];
  const stop = () => {
    stopping = true;
    for (const c of children) c.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  process.on('SIGINT', () => {
    stop();
    process.exit(130);
  });
  console.log(`command: node ${process.execArgv.join(' ')} ${process.argv.slice(1).join(' ')}`);
  // The stand-ins run none of ecom's code: whether it is built does not matter here.
  console.log(describeMachine({ ...probeMachine(dir), code: 'compiled' }));
  try {
    const reports: StallReport[] = [];
    const portOf = (args: string[]) =>
      new Promise<number>((resolve) => {
        children.push(
          child(args, (m) => {
            if ('port' in m) resolve(m.port);
            if ('report' in m) reports.push(m.report);
          }),
        );
      });
    const followerPorts = [await portOf(['follower', join(dir, 'follower-1'), String(applyUs), String(sliceUs)]), await portOf(['follower', join(dir, 'follower-2'), String(applyUs), String(sliceUs)])];
    const leaderPort = await portOf(['leader', join(dir, 'leader'), String(applyUs), String(sliceUs), ...followerPorts.map(String)]);
    const servers = [...children];
    // The stand-ins' window: from the end of the warm-up to the workers' end.
    const window = setTimeout(() => servers.forEach((s) => s.send({ measure: true })), warmup * 1000);
    const results = await Promise.all(
      Array.from({ length: workers }, (_, w) => {
        const share = Math.floor(inFlight / workers) + (w < inFlight % workers ? 1 : 0);
        return new Promise<WorkerResult>((resolve) => children.push(child(['load', String(leaderPort), String(share), String(warmup * 1000), String(seconds * 1000)], (m) => 'result' in m && resolve(m.result))));
      }),
    );
    clearTimeout(window);
    for (const s of servers) s.send({ report: true });
    while (reports.length < servers.length) await new Promise((r) => setTimeout(r, 20));
    const latency = new Histogram();
    for (const r of results) latency.merge(r.latency);
    const writes = results.reduce((n, r) => n + r.writes, 0);
    const l = latency.summary();
    console.log(
      `replication floor [${inFlight} in flight, ${workers} load processes, ${applyUs} µs of apply per write${sliceUs > 0 ? ` in pieces of ${sliceUs} µs` : ''}, ${seconds} s after ${warmup} s]: ${Math.round(writes / seconds).toLocaleString('en-US')} writes/s; latency ms p50 ${fmtMs(l.p50_ms)}, p90 ${fmtMs(l.p90_ms)}, p99 ${fmtMs(l.p99_ms)}, max ${fmtMs(l.max_ms)}`,
    );
    for (const r of reports) {
      console.log(
        `  ${r.name}: ${Math.round((r.cpu_ms * 1000) / Math.max(1, writes))} µs of CPU per write; longest stall ${Math.round(r.longest_ms)} ms (ran ${Math.round(r.running_ms)} ms, waited ${Math.round(r.waitingForCpu_ms)} ms for a core); ${r.intervalsOver50} stalls of ${STALL_MS} ms or more`,
      );
    }
    const loadCpu = results.reduce((n, r) => n + r.cpu_ms, 0);
    console.log(`  load processes: ${Math.round((loadCpu * 1000) / Math.max(1, writes))} µs of CPU per write together`);
  } finally {
    stop();
  }
}

const [role, ...rest] = process.argv.slice(2);
if (role === 'follower') follower(rest[0]!, new Applier(Number(rest[1]), Number(rest[2])));
else if (role === 'leader') leader(rest[0]!, rest.slice(3).map(Number), new Applier(Number(rest[1]), Number(rest[2])));
else if (role === 'load') loadWorker(Number(rest[0]), Number(rest[1]), Number(rest[2]), Number(rest[3]));
else void main().catch((err: unknown) => fail(err instanceof Error ? err.message : String(err)));
