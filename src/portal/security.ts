import { readFileSync, statSync } from 'node:fs';

/**
 * Opt-in protection of the public API (issue #13 item 4). Off by default, so the original's
 * clients keep working: TLS on the portal ports (`--tls-cert`/`--tls-key`), and a bearer
 * token that AdminPortal requires in the `authorization` metadata (`--admin-token FILE`).
 * OrderPortal stays open to any client, as in the original, but rides the same TLS.
 */
export interface PortalSecurity {
  readonly tls?: { readonly cert: Buffer; readonly key: Buffer };
  readonly adminToken?: string;
}

export interface PortalSecurityOptions {
  readonly tlsCert?: string;
  readonly tlsKey?: string;
  readonly adminToken?: string;
}

export const NO_SECURITY: PortalSecurity = {};

function readFileOrSay(file: string, what: string, flag: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new Error(`cannot read the ${what} ${file} given with ${flag}: ${(err as Error).message}`);
  }
}

/** Reads a token file: one line, owner-only (anyone who reads it is an administrator). */
export function readToken(file: string, flag: string): string {
  const token = readFileOrSay(file, 'token file', flag).toString('utf8').trim();
  if (token.length < 16 || /\s/.test(token)) throw new Error(`${file} given with ${flag} must hold one token of at least 16 characters and no spaces (e.g. openssl rand -hex 32 > ${file})`);
  if ((statSync(file).mode & 0o077) !== 0) throw new Error(`the token file ${file} can be read by other users; run: chmod 600 ${file}`);
  return token;
}

export function loadPortalSecurity(options: PortalSecurityOptions): PortalSecurity {
  if ((options.tlsCert === undefined) !== (options.tlsKey === undefined)) {
    throw new Error('--tls-cert and --tls-key go together: the certificate chain (PEM) and its private key (PEM)');
  }
  return {
    ...(options.tlsCert !== undefined && options.tlsKey !== undefined
      ? { tls: { cert: readFileOrSay(options.tlsCert, 'certificate', '--tls-cert'), key: readFileOrSay(options.tlsKey, 'private key', '--tls-key') } }
      : {}),
    ...(options.adminToken !== undefined ? { adminToken: readToken(options.adminToken, '--admin-token') } : {}),
  };
}

/** The flags that give a child portal process the same protection. */
export function portalSecurityArgs(options: PortalSecurityOptions): string[] {
  const args: string[] = [];
  if (options.tlsCert !== undefined) args.push('--tls-cert', options.tlsCert);
  if (options.tlsKey !== undefined) args.push('--tls-key', options.tlsKey);
  if (options.adminToken !== undefined) args.push('--admin-token', options.adminToken);
  return args;
}
