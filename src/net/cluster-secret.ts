import { createHmac, randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * The cluster's shared secret: 32 random bytes, written as 64 hex digits in a file only its
 * owner may read. Replicas, portals, the broker and the operator's commands prove they hold
 * it before any internal traffic flows (handshake.ts; the broker takes it as a password).
 */
export const SECRET_BYTES = 32;
export const CLUSTER_SECRET_ENV = 'ECOM_CLUSTER_SECRET_FILE';
export const SECRET_FILE_NAME = 'cluster.secret';
/** What every refusal names, so the fix is one flag away. */
export const SECRET_HINT = `pass --cluster-secret FILE or set ${CLUSTER_SECRET_ENV}; "ecom up" creates ${SECRET_FILE_NAME} in its data folder on first start, and "ecom secret FILE" creates one for a cluster started by hand`;

export class ClusterSecretError extends Error {
  override readonly name = 'ClusterSecretError';
}

/** Reads and checks a secret file; every problem is refused with what to do about it. */
export function readClusterSecret(file: string): Buffer {
  let text: string;
  try {
    const mode = statSync(file).mode;
    // Like ssh with a private key: a secret others can read is no secret.
    if ((mode & 0o077) !== 0) throw new ClusterSecretError(`the cluster secret ${file} can be read by other users (mode ${(mode & 0o777).toString(8)}); run: chmod 600 ${file}`);
    text = readFileSync(file, 'utf8').trim();
  } catch (err) {
    if (err instanceof ClusterSecretError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new ClusterSecretError(`no cluster secret at ${file}: ${SECRET_HINT}`);
    throw new ClusterSecretError(`cannot read the cluster secret ${file}: ${(err as Error).message}`);
  }
  if (!new RegExp(`^[0-9a-f]{${2 * SECRET_BYTES}}$`).test(text)) {
    throw new ClusterSecretError(`${file} is not a cluster secret (${2 * SECRET_BYTES} hex digits expected); create a new one with "ecom secret FILE" and give it to every process of the cluster`);
  }
  return Buffer.from(text, 'hex');
}

/**
 * Creates a secret file owner-only, atomically and only if none exists: replicas started at
 * the same moment all end up with the one that won. Returns whether this call created it.
 */
export function createClusterSecret(file: string): boolean {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, `${randomBytes(SECRET_BYTES).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
  try {
    linkSync(temporary, file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    rmSync(temporary, { force: true });
  }
}

/** The secret at `file`, created first if there is none (for `ecom up` and its tier). */
export function ensureClusterSecret(file: string): Buffer {
  try {
    statSync(file);
  } catch {
    createClusterSecret(file);
  }
  return readClusterSecret(file);
}

/** What an MQTT client presents to a broker that requires the cluster's credentials. */
export interface BrokerCredentials {
  readonly username: string;
  readonly password: string;
}

/**
 * Derived from the secret rather than the secret itself: MQTT carries a password in clear, and
 * whoever reads it off a broker's wire learns only the broker's password, not the key that
 * opens the replicas.
 */
export function brokerCredentials(secret: Buffer): BrokerCredentials {
  return { username: 'ecom', password: createHmac('sha256', secret).update('ecom/1 mqtt broker password').digest('hex') };
}
