import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { Option } from 'commander';
import { CLUSTER_SECRET_ENV, SECRET_FILE_NAME } from '../net/cluster-secret.js';

/** `--cluster-secret`, shared by every command of raft and mqtt modes that talks inside the cluster. */

export const clusterSecretOption = () =>
  new Option(
    '--cluster-secret <file>',
    `the cluster's secret: proved on every connection to a storage replica, and the source of the MQTT broker's credentials (default: $${CLUSTER_SECRET_ENV}, else "secretFile" in --storage-config, else ./data/${SECRET_FILE_NAME}, which "ecom up" creates)`,
  );

/**
 * For processes that may run without a secret (mqtt mode against a broker of its own): the
 * flag, then the environment, then `./data/cluster.secret` if it exists; undefined otherwise.
 */
export function optionalSecretFile(opts: { clusterSecret?: unknown }): string | undefined {
  if (typeof opts.clusterSecret === 'string') return resolve(opts.clusterSecret);
  const fromEnv = process.env[CLUSTER_SECRET_ENV];
  if (fromEnv) return resolve(fromEnv);
  const fallback = resolve('./data', SECRET_FILE_NAME);
  return existsSync(fallback) ? fallback : undefined;
}
