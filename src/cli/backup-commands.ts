import { accessSync, constants, statSync, type Stats } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { wholeNumber } from '../config/options.js';
import { clusterSecretOption } from '../modes/cluster-secret-option.js';
import { configOption, topologyFrom } from '../modes/raft/storage-config.js';
import { withClusterClient } from '../storage/client/cluster-client.js';
import { BACKUP_FORMAT, BACKUP_VERSION } from '../storage/common/backup-format.js';
import { BackupFileWriter, openBackup } from '../storage/replica/backup-file.js';
import { restoreBackup } from '../storage/replica/restore.js';

/** How often a long backup says how far it is. */
const PROGRESS_EVERY_MS = 2_000;

/** `ecom backup FILE` and `ecom restore FILE --data DIR` (issue #16 item 4, docs/operations.md). */
export function registerBackupCommands(program: Command): void {
  program
    .command('backup')
    .description("Write a consistent copy of every partition of a running raft cluster to FILE (each partition at one applied index, copied by its leader and read in pieces: any size).")
    .argument('<file>', 'where to write the backup (replaced atomically, readable by its owner only)')
    .addOption(configOption())
    .addOption(clusterSecretOption())
    .option('--timeout <ms>', 'how long each partition may take to make its copy, and each piece of it to arrive', wholeNumber('--timeout'), 60_000)
    .addHelpText('after', '\nExamples:\n  $ ecom backup shop.backup\n  $ ecom backup /backups/shop-$(date +%F).backup --storage-config cluster.json')
    .action(async (file: string, opts: { storageConfig?: string; clusterSecret?: string; timeout: number }) => {
      const target = resolve(file);
      // Asked before the cluster is: each partition's leader makes a copy for the backup.
      const problem = destinationProblem(target);
      if (problem !== undefined) throw new Error(`cannot write the backup to ${target}: ${problem}; nothing was asked of the cluster`);
      const topology = topologyFrom(opts);
      const out = new BackupFileWriter(target, { format: BACKUP_FORMAT, version: BACKUP_VERSION, created: new Date().toISOString(), partitions: topology.partitions });
      try {
        await withClusterClient(topology, async (client) => {
          for (let p = 0; p < topology.partitions; p++) {
            const started = performance.now();
            const opened = await client.backupOpen(p, Date.now() + opts.timeout);
            out.startPart({ partition: p, index: opened.index, term: opened.term, voters: opened.voters, bytes: opened.bytes, keys: opened.keys });
            let read = 0;
            let told = performance.now();
            for await (const piece of client.backupPieces(opened, opts.timeout)) {
              out.write(piece);
              read += piece.length;
              if (performance.now() - told >= PROGRESS_EVERY_MS) {
                told = performance.now();
                process.stderr.write(`partition ${p}: ${formatBytes(read)} of ${formatBytes(opened.bytes)}\n`);
              }
            }
            out.endPart();
            const seconds = (performance.now() - started) / 1000;
            process.stderr.write(`partition ${p}: index ${opened.index} (term ${opened.term}), ${opened.keys.toLocaleString('en-US')} records, ${formatBytes(opened.bytes)} from replica ${opened.replica} in ${seconds.toFixed(1)} s\n`);
          }
        });
        out.finish();
      } catch (err) {
        out.abort();
        throw err;
      }
      process.stdout.write(`wrote ${target}: ${topology.partitions} partitions; restore with: ecom restore ${file} --data NEW_DIR\n`);
    });

  program
    .command('restore')
    .description('Seed a new cluster from a backup: checks the whole file, then writes each replica of the topology its partition\'s state under --data; then start the cluster on that folder.')
    .argument('<file>', 'a file written by ecom backup')
    .requiredOption('--data <dir>', 'the new cluster\'s data folder (its replica folders must not exist yet)')
    .addOption(configOption())
    .addHelpText('after', '\nExamples:\n  $ ecom restore shop.backup --data ./restored && ecom up --data ./restored\n  $ ecom restore shop.backup --data /srv/ecom --storage-config cluster.json')
    .action(async (file: string, opts: { data: string; storageConfig?: string }) => {
      const backup = openBackup(file);
      const topology = topologyFrom(opts, opts.data);
      const restored = await restoreBackup(backup, topology, resolve(opts.data), (line) => process.stderr.write(`${line}\n`));
      for (const r of restored) process.stdout.write(`replica ${r.id} (partition ${r.partition}): from index ${r.index} in ${r.dir}\n`);
      const how = opts.storageConfig === undefined ? `ecom up --data ${opts.data}` : `ecom storage ID --data ${opts.data} --storage-config ${opts.storageConfig} for each replica`;
      process.stdout.write(`restored the backup of ${backup.created}; start the cluster with: ${how}\n`);
    });
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

function formatBytes(n: number): string {
  return n < 1 << 20 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / (1 << 20)).toFixed(1)} MiB`;
}
