import { existsSync, writeFileSync } from 'node:fs';

/**
 * Mosquitto, the real broker the mqtt-mode tests and chaos runs use beside the embedded one.
 * Debian installs it with `apt-get install -y mosquitto`.
 */
const CANDIDATES = ['/usr/sbin/mosquitto', '/usr/bin/mosquitto', '/usr/local/sbin/mosquitto'];

/** Where Mosquitto is installed; in CI a missing Mosquitto is an error (it must be installed there), elsewhere undefined. */
export function findMosquitto(): string | undefined {
  // ECOM_MOSQUITTO names the binary explicitly (and lets one check that CI fails without it).
  const candidates = process.env.ECOM_MOSQUITTO ? [process.env.ECOM_MOSQUITTO] : CANDIDATES;
  const found = candidates.find((path) => existsSync(path));
  if (found === undefined && process.env.CI) {
    throw new Error(`mosquitto is not installed (looked in ${candidates.join(', ')}); CI must install it: apt-get install -y mosquitto`);
  }
  return found;
}

/**
 * Writes a configuration for a loopback listener on `port`. The default of 20 messages in
 * flight stalls QoS 1 bursts, so it allows far more and queues well past any burst; without
 * TCP_NODELAY every small packet waits ~40 ms for a delayed ACK; nothing is persisted, like the
 * embedded broker.
 */
export function writeMosquittoConfig(file: string, host: string, port: number): void {
  writeFileSync(file, [`listener ${port} ${host}`, 'allow_anonymous true', 'max_inflight_messages 1000', 'max_queued_messages 100000', 'set_tcp_nodelay true', 'persistence false', ''].join('\n'));
}
