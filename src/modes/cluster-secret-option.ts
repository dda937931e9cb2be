import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Option } from 'commander';
import { CLUSTER_SECRET_ENV, SECRET_FILE_NAME } from '../net/cluster-secret.js';

/** `--cluster-secret`, shared by every command of raft and mqtt modes that talks inside the cluster. */

export const clusterSecretOption = (
  description = `the cluster's secret: proved on every connection to a storage replica, and the source of the MQTT broker's credentials (default: $${CLUSTER_SECRET_ENV}, else "secretFile" in --storage-config, else ./data/${SECRET_FILE_NAME}, which "ecom up" creates)`,
) => new Option('--cluster-secret <file>', description);

/**
 * Where the cluster's secret is, in the one order every command follows: --cluster-secret, then
 * $ECOM_CLUSTER_SECRET_FILE, then the topology file's own "secretFile", then
 * `<dataDir>/cluster.secret`. An absolute path.
 */
export function secretFileFrom(opts: { clusterSecret?: unknown }, dataDir = './data', topologySecretFile?: string): string {
  if (typeof opts.clusterSecret === 'string') return resolve(opts.clusterSecret);
  const fromEnv = process.env[CLUSTER_SECRET_ENV];
  if (fromEnv) return resolve(fromEnv);
  return resolve(topologySecretFile ?? join(dataDir, SECRET_FILE_NAME));
}

/**
 * For processes that may run without a secret (mqtt mode against a broker of its own): the
 * flag, then the environment, then `./data/cluster.secret` if it exists; undefined otherwise.
 */
export function optionalSecretFile(opts: { clusterSecret?: unknown }): string | undefined {
  const chosen = secretFileFrom(opts);
  const named = typeof opts.clusterSecret === 'string' || Boolean(process.env[CLUSTER_SECRET_ENV]);
  return named || existsSync(chosen) ? chosen : undefined;
}
