import { accessSync, closeSync, constants, fsyncSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync, type Stats } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { wholeNumber } from '../config/options.js';
import { clusterSecretOption } from '../modes/cluster-secret-option.js';
import { configOption, topologyFrom } from '../modes/raft/storage-config.js';
import { withClusterClient } from '../storage/client/cluster-client.js';
import { BACKUP_FORMAT, BACKUP_VERSION, backupProblem, stateChecksum, type BackupFile, type PartitionBackup } from '../storage/common/backup-format.js';
import { restoreBackup } from '../storage/replica/restore.js';

/** `ecom backup FILE` and `ecom restore FILE --data DIR` (issue #16 item 4, docs/operations.md). */
export function registerBackupCommands(program: Command): void {
  program
    .command('backup')
    .description("Write a consistent copy of every partition of a running raft cluster to FILE (each partition at one applied index, taken from its leader's snapshot).")
    .argument('<file>', 'where to write the backup (JSON; replaced atomically, readable by its owner only)')
    .addOption(configOption())
    .addOption(clusterSecretOption())
    .option('--timeout <ms>', 'how long each partition may take to answer', wholeNumber('--timeout'), 60_000)
    .addHelpText('after', '\nExamples:\n  $ ecom backup shop.backup\n  $ ecom backup /backups/shop-$(date +%F).json --storage-config cluster.json')
    .action(async (file: string, opts: { storageConfig?: string; clusterSecret?: string; timeout: number }) => {
      const target = resolve(file);
      // Asked before the cluster is: each partition's leader takes a snapshot for the backup.
      const problem = destinationProblem(target);
      if (problem !== undefined) throw new Error(`cannot write the backup to ${target}: ${problem}; nothing was asked of the cluster`);
      const topology = topologyFrom(opts);
      const partitions: PartitionBackup[] = [];
      await withClusterClient(topology, async (client) => {
        for (let p = 0; p < topology.partitions; p++) {
          const part = await client.backup(p, Date.now() + opts.timeout);
          partitions.push(part);
          process.stderr.write(`partition ${p}: index ${part.index} (term ${part.term}), ${formatBytes(part.state.length)}\n`);
        }
      });
      const backup: BackupFile = { format: BACKUP_FORMAT, version: BACKUP_VERSION, created: new Date().toISOString(), partitions: partitions.map((p) => ({ ...p, sha256: stateChecksum(p.state) })) };
      writeAtomically(target, JSON.stringify(backup));
      process.stdout.write(`wrote ${target}: ${partitions.length} partitions; restore with: ecom restore ${file} --data NEW_DIR\n`);
    });

  program
    .command('restore')
    .description('Seed a new cluster from a backup: writes each replica of the topology a snapshot of its partition under --data; then start the cluster on that folder.')
    .argument('<file>', 'a file written by ecom backup')
    .requiredOption('--data <dir>', 'the new cluster\'s data folder (its replica folders must not exist yet)')
    .addOption(configOption())
    .addHelpText('after', '\nExamples:\n  $ ecom restore shop.backup --data ./restored && ecom up --data ./restored\n  $ ecom restore shop.backup --data /srv/ecom --storage-config cluster.json')
    .action((file: string, opts: { data: string; storageConfig?: string }) => {
      const backup = readBackup(file);
      const topology = topologyFrom(opts, opts.data);
      const restored = restoreBackup(backup, topology, resolve(opts.data));
      for (const r of restored) process.stdout.write(`replica ${r.id} (partition ${r.partition}): from index ${r.index} in ${r.dir}\n`);
      const how = opts.storageConfig === undefined ? `ecom up --data ${opts.data}` : `ecom storage ID --data ${opts.data} --storage-config ${opts.storageConfig} for each replica`;
      process.stdout.write(`restored the backup of ${backup.created}; start the cluster with: ${how}\n`);
    });
}

function readBackup(file: string): BackupFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read the backup ${file}: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new Error(`${file} is not a backup: it is not JSON (${(err as Error).message})`);
  }
  const problem = backupProblem(parsed);
  if (problem !== undefined) throw new Error(`${file} cannot be restored: ${problem}`);
  return parsed as BackupFile;
}

/** Why a backup could not be written to `path` (absolute), or undefined: a file in a folder this user may write in. */
function destinationProblem(path: string): string | undefined {
  if (statOrUndefined(path)?.isDirectory() === true) return `it is a folder; name a file in it, e.g. ${join(path, 'shop.backup')}`;
  const folder = dirname(path);
  const stat = statOrUndefined(folder);
  if (stat === undefined) return `the folder ${folder} does not exist; create it first, or name a file in a folder that exists`;
  if (!stat.isDirectory()) return `${folder} is not a folder`;
  try {
    accessSync(folder, constants.W_OK);
  } catch {
    return `this user may not write in ${folder}`;
  }
  return undefined;
}

/** A path that does not exist, or lies under something that is not a folder, has no stat. */
function statOrUndefined(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw err;
  }
}

/** Write, fsync, rename, fsync the folder: a crash leaves the old file or the whole new one. */
function writeAtomically(path: string, text: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (err) {
    try {
      rmSync(tmp, { force: true });
    } catch {
      // Whatever kept the file from being written may keep it from being removed; the cause is below.
    }
    throw new Error(`cannot write the backup to ${path}: ${(err as Error).message}`);
  }
  const dir = openSync(dirname(path), 'r');
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}

function formatBytes(n: number): string {
  return n < 1 << 20 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / (1 << 20)).toFixed(1)} MiB`;
}
