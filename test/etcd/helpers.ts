import { findEtcdBinary, startLocalEtcdCluster, type LocalEtcdCluster } from '../../src/modes/etcd/cluster.js';
import { EtcdBackend } from '../../src/modes/etcd/backend.js';
import { silentLogger } from '../../src/util/log.js';

/**
 * etcd is a system package. Locally a missing etcd skips these tests with a note; on CI
 * (`CI` set, where .ci/run installs it) a missing etcd fails them, so they cannot silently vanish.
 */
export const etcdMissing = findEtcdBinary() === undefined;
if (etcdMissing) {
  if (process.env.CI) throw new Error('CI is set but etcd is not installed: apt-get install -y etcd-server etcd-client');
  console.warn('etcd tests skipped: etcd is not installed (apt-get install etcd-server etcd-client)');
}

/** A 3-member cluster on free loopback ports; member logs are shown only with ECOM_ETCD_LOGS=1. */
export function startTestCluster(): Promise<LocalEtcdCluster> {
  const show = process.env.ECOM_ETCD_LOGS === '1';
  return startLocalEtcdCluster(show ? { onLine: (member, line) => process.stderr.write(`[${member}] ${line}\n`) } : {});
}

let prefixCounter = 0;

/** A prefix no other test in this process uses, so tests sharing one cluster never see each other's keys. */
export function freshPrefix(label: string): string {
  prefixCounter++;
  return `/test-${label}-${process.pid}-${prefixCounter}`;
}

export function openBackend(
  cluster: Pick<LocalEtcdCluster, 'endpoints'>,
  prefix: string,
  overrides: Partial<Parameters<typeof EtcdBackend.open>[0]> = {},
): Promise<EtcdBackend> {
  return EtcdBackend.open({
    endpoints: cluster.endpoints,
    prefix,
    timeout_ms: 5_000,
    call_timeout_ms: 2_000,
    max_attempts: 20,
    cache_ms: 0,
    log: silentLogger,
    ...overrides,
  });
}
