import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, watch, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { OK, type Command } from '../../src/domain/commands.js';
import type { RecordKind, StoredRecord } from '../../src/domain/records.js';
import { StorageTier } from '../../src/modes/raft/storage-tier.js';
import { PartitionedBackend } from '../../src/storage/client/partitioned-backend.js';
import { ReplicaClusterClient } from '../../src/storage/client/cluster-client.js';
import { BACKUP_FORMAT, BACKUP_PIECE_BYTES, BACKUP_VERSION } from '../../src/storage/common/backup-format.js';
import { BackupFileWriter } from '../../src/storage/replica/backup-file.js';
import { restoreMarker } from '../../src/storage/replica/layout.js';
import { Replica } from '../../src/storage/replica/replica.js';
import { CopyWriter } from '../../src/storage/replica/snapshot-format.js';
import { silentLogger } from '../../src/util/log.js';
import { ECOM_BIN } from '../../src/util/processes.js';
import { freeLocalTopology } from '../../src/storage/common/topology.js';
import { Prng } from '../../src/util/random.js';
import { testSeed } from '../helpers/seed.js';
import { runEcom } from '../helpers/ecom.js';
import { startRaftCluster } from './cluster.js';

/**
 * `ecom backup` of a running cluster, then `ecom restore` into a new cluster on other ports and
 * folders: every record as it was at the backup, nothing written after it, and the restored
 * cluster takes writes (single-partition and across partitions) at once.
 */
const work = mkdtempSync(join(tmpdir(), 'ecom-backup-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const KEYS: Array<[RecordKind, string]> = [];
for (let i = 1; i <= 30; i++) KEYS.push(['client', String(i)]);
for (let i = 1; i <= 6; i++) KEYS.push(['product', String(100 + i)]);
for (let i = 1; i <= 10; i++) KEYS.push(['order', String(200 + i)]);

async function snapshotOf(backend: PartitionedBackend): Promise<Map<string, StoredRecord | undefined>> {
  const out = new Map<string, StoredRecord | undefined>();
  for (const [kind, id] of KEYS) out.set(`${kind}/${id}`, await backend.read(kind, id));
  return out;
}

async function must(backend: PartitionedBackend, command: Command): Promise<void> {
  expect(await backend.execute(command), JSON.stringify(command)).toEqual(OK);
}

/** Restores `file` into a new cluster on free ports and folders, and runs `use` against it. */
async function withRestored(file: string, name: string, use: (backend: PartitionedBackend) => Promise<void>): Promise<void> {
  const topology = await freeLocalTopology(2, 3);
  const configFile = join(work, `${name}-topology.json`);
  writeFileSync(configFile, JSON.stringify(topology));
  const dataDir = join(work, name);
  const restored = await runEcom(['restore', file, '--data', dataDir, '--storage-config', configFile], { timeout_ms: 60_000 });
  expect(restored.code, restored.stderr).toBe(0);
  expect(restored.stdout).toMatch(/replica 1 \(partition 0\): from index \d+/);
  const tier = new StorageTier({ topology, dataDir });
  await tier.start();
  const backend = new PartitionedBackend(new ReplicaClusterClient(tier.topology), { requestTimeout_ms: 10_000 });
  try {
    await use(backend);
  } finally {
    await backend.close();
    await tier.stop();
  }
}

// docs/spec.md: R-CLI-12
describe('backup and restore', () => {
  it('restores every record as of the backup into a new cluster, which then takes writes', { timeout: 120_000 }, async () => {
    const source = await startRaftCluster();
    const file = join(work, 'shop.backup');
    let expected: Map<string, StoredRecord | undefined>;
    try {
      const backend = source.backend();
      for (let i = 1; i <= 30; i++) await must(backend, { op: 'CreateClient', cid: String(i), data: JSON.stringify({ name: `client ${i}` }) });
      for (let i = 1; i <= 6; i++) await must(backend, { op: 'CreateProduct', pid: String(100 + i), data: JSON.stringify({ name: `p${i}`, price: '1.5', quantity: 100 }) });
      for (let i = 1; i <= 8; i++) await must(backend, { op: 'CreateOrder', oid: String(200 + i), cid: String(i), data: JSON.stringify([{ id: String(100 + (i % 6) + 1), quantity: i }, { id: '101', quantity: 1 }]) });
      await must(backend, { op: 'DeleteOrder', oid: '203' });
      await must(backend, { op: 'UpdateClient', cid: '7', data: '{"name": "renamed"}' });
      const run = await runEcom(['backup', file, '--storage-config', source.tier.configFile], { timeout_ms: 60_000 });
      expect(run.code, run.stderr).toBe(0);
      expect(run.stderr).toMatch(/partition 0: index \d+ \(term \d+\)/);
      expect(run.stdout).toContain('restore with: ecom restore');
      expected = await snapshotOf(backend);
      // Written after the backup: must not come back.
      await must(backend, { op: 'CreateOrder', oid: '209', cid: '9', data: '[{"id": "102", "quantity": 1}]' });
      await must(backend, { op: 'UpdateClient', cid: '8', data: '{"name": "after the backup"}' });
    } finally {
      await source.stop();
    }
    expect(expected.get('order/205')).toBeDefined();
    expect(expected.get('order/203')).toBeUndefined();

    const topology = await freeLocalTopology(2, 3);
    const configFile = join(work, 'restored-topology.json');
    writeFileSync(configFile, JSON.stringify(topology));
    const dataDir = join(work, 'restored');
    const restored = await runEcom(['restore', file, '--data', dataDir, '--storage-config', configFile]);
    expect(restored.code, restored.stderr).toBe(0);
    expect(restored.stdout).toMatch(/replica 1 \(partition 0\): from index \d+/);
    // A second restore into the same folder is refused and writes nothing.
    const again = await runEcom(['restore', file, '--data', dataDir, '--storage-config', configFile]);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toContain('already holds a replica\'s data');

    const tier = new StorageTier({ topology, dataDir });
    await tier.start();
    const backend = new PartitionedBackend(new ReplicaClusterClient(tier.topology), { requestTimeout_ms: 10_000 });
    try {
      expect(await snapshotOf(backend)).toEqual(expected);
      await must(backend, { op: 'CreateClient', cid: '31', data: '{"name": "new"}' });
      await must(backend, { op: 'CreateOrder', oid: '210', cid: '31', data: '[{"id": "101", "quantity": 2}, {"id": "102", "quantity": 1}]' });
      expect((await backend.read('product', '101'))?.quantity).toBe((expected.get('product/101') as { quantity: number }).quantity - 2);
    } finally {
      await backend.close();
      await tier.stop();
    }
  });

  it('backs up partitions larger than one piece of a copy, and restores every record', { timeout: 180_000 }, async () => {
    const source = await startRaftCluster();
    const file = join(work, 'large.backup');
    const clients = 6_000;
    // About 600 bytes a record: each partition's copy is over BACKUP_PIECE_BYTES, so it is read in several pieces.
    const name = (i: number) => `client ${i} ${'x'.repeat(560)}`;
    try {
      const backend = source.backend();
      let next = 1;
      await Promise.all(Array.from({ length: 64 }, async () => {
        while (next <= clients) {
          const i = next++;
          await must(backend, { op: 'CreateClient', cid: String(i), data: JSON.stringify({ name: name(i) }) });
        }
      }));
      const run = await runEcom(['backup', file, '--storage-config', source.tier.configFile], { timeout_ms: 120_000 });
      expect(run.code, run.stderr).toBe(0);
      const parts = [...run.stderr.matchAll(/partition (\d): index \d+ \(term \d+\), ([\d,]+) records, ([\d.]+) MiB from replica \d+/g)];
      expect(parts.map((m) => m[1])).toEqual(['0', '1']);
      // Every client is a record of its partition, and sessions and the log time are records too.
      expect(parts.map((m) => Number(m[2]!.replaceAll(',', ''))).reduce((a, b) => a + b)).toBeGreaterThan(clients);
      for (const m of parts) expect(Number(m[3]) * (1 << 20)).toBeGreaterThan(BACKUP_PIECE_BYTES);
    } finally {
      await source.stop();
    }
    expect(readFileSync(file).subarray(0, 40).toString()).toBe('{"format":"ecom-backup","version":2,"cre');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    await withRestored(file, 'restored-large', async (backend) => {
      const r = new Prng(testSeed('large backup sample'));
      for (let n = 0; n < 200; n++) {
        const i = 1 + r.int(clients);
        expect(await backend.read('client', String(i)), `client ${i}`).toMatchObject({ name: name(i) });
      }
      expect(await backend.read('client', String(clients + 1))).toBeUndefined();
      await must(backend, { op: 'CreateClient', cid: String(clients + 1), data: '{"name": "after the restore"}' });
    });
  });

  it('restores a backup of version 1, as builds before 2026-12-07 wrote', { timeout: 120_000 }, async () => {
    // test/fixtures/backup-v1.json: `ecom backup` of a fresh `ecom up` (2 clients, 2 products, an order of both), by such a build.
    await withRestored(join(import.meta.dirname, '..', 'fixtures', 'backup-v1.json'), 'restored-v1', async (backend) => {
      expect(await backend.read('client', '7')).toMatchObject({ name: 'Ana' });
      expect(await backend.read('client', '8')).toMatchObject({ name: 'Bruno' });
      expect(await backend.read('product', '70')).toMatchObject({ name: 'Caneta', price: '2.50', quantity: 8 });
      expect(await backend.read('product', '71')).toMatchObject({ name: 'Lapis', price: '1.25', quantity: 4 });
      expect(await backend.read('order', '700')).toMatchObject({ cid: '7' });
      await must(backend, { op: 'CreateOrder', oid: '701', cid: '8', data: '[{"id": "71", "quantity": 4}]' });
      expect(await backend.read('product', '71')).toMatchObject({ quantity: 0 });
    });
  });

  it('a restore killed half way leaves a folder no replica starts from, saying why', { timeout: 120_000 }, async () => {
    // A backup big enough to take a while to restore: 300,000 records a partition.
    const file = join(work, 'to-interrupt.backup');
    const out = new BackupFileWriter(file, { format: BACKUP_FORMAT, version: BACKUP_VERSION, created: new Date().toISOString(), partitions: 2 });
    for (const p of [0, 1]) {
      const pieces: Buffer[] = [];
      const copy = new CopyWriter(10, (piece) => pieces.push(Buffer.from(piece)));
      for (let i = 0; i < 300_000; i++) copy.add(`r/client/${p}-${String(i).padStart(7, '0')}`, { kind: 'client', name: `client ${i}`, orderCount: 0, lastSeq: 0 });
      const bytes = Buffer.concat(pieces);
      out.startPart({ partition: p, index: 10, term: 1, voters: p === 0 ? [1, 2, 3] : [4, 5, 6], bytes: bytes.length, keys: copy.keys });
      out.write(bytes);
      out.endPart();
    }
    out.finish();
    const topology = await freeLocalTopology(2, 3);
    const configFile = join(work, 'interrupted-topology.json');
    writeFileSync(configFile, JSON.stringify(topology));
    const dataDir = join(work, 'interrupted');
    mkdirSync(dataDir);
    const restore = spawn(process.execPath, [ECOM_BIN, 'restore', file, '--data', dataDir, '--storage-config', configFile], { stdio: 'ignore' });
    const exited = new Promise<string | null>((resolve) => restore.on('exit', (_code, signal) => resolve(signal)));
    // Killed as soon as the restore has begun writing.
    await new Promise<void>((resolve) => {
      const watcher = watch(dataDir, () => {
        if (!existsSync(restoreMarker(dataDir))) return;
        restore.kill('SIGKILL');
        watcher.close();
        resolve();
      });
    });
    expect(await exited).toBe('SIGKILL');
    expect(() => new Replica({ topology, id: 4, dataDir, log: silentLogger })).toThrow(/^replica 4 cannot start from .*interrupted: a restore into it started at .* and did not finish/);
    // Restored again into a new folder, it is whole, and leaves no marker.
    const again = await runEcom(['restore', file, '--data', join(work, 'interrupted-again'), '--storage-config', configFile], { timeout_ms: 60_000 });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain('partition 1: 300,000 records at index 10, in 3 replicas');
    expect(existsSync(restoreMarker(join(work, 'interrupted-again')))).toBe(false);
  });

  it('refuses a destination it cannot write to before asking the cluster for anything', async () => {
    // Ports no one listens on: were the destination not checked first, the run would fail later
    // and differently (no leader answers), after each leader had been asked for a snapshot.
    const config = join(work, 'nobody.json');
    writeFileSync(config, JSON.stringify(await freeLocalTopology(1, 3)));
    const folder = join(work, 'a-folder');
    mkdirSync(folder);
    const cases: Array<[string, string]> = [
      [join(work, 'missing', 'shop.backup'), `the folder ${join(work, 'missing')} does not exist; create it first`],
      [folder, `it is a folder; name a file in it, e.g. ${join(folder, 'shop.backup')}`],
      [join(config, 'shop.backup'), `${config} is not a folder`],
    ];
    for (const [target, reason] of cases) {
      const run = await runEcom(['backup', target, '--storage-config', config, '--timeout', '2000']);
      expect(run.code, run.stderr).toBe(1);
      expect(run.stderr).toBe(`ecom: cannot write the backup to ${target}: ${reason}${reason.endsWith('first') ? ', or name a file in a folder that exists' : ''}; nothing was asked of the cluster\n`);
    }
    expect(existsSync(join(work, 'missing'))).toBe(false);
    expect(readdirSync(folder)).toEqual([]);
  });

  it('refuses a file that is not a backup, naming the problem', async () => {
    const bogus = join(work, 'bogus.json');
    writeFileSync(bogus, '{"format": "something-else"}');
    const run = await runEcom(['restore', bogus, '--data', join(work, 'never')]);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain('it is not an ecom backup');
  });
});
