import type { BenchSession } from './session.js';
import { PORTAL_SYSTEMS, startVisibilityFloor } from './systems.js';
import { visibilityFloorSystemName } from './visibility-floor.js';
import { findMosquitto } from '../util/mosquitto.js';

/**
 * The figures issue #17 asks of mqtt mode, on each broker: orders through one portal one at a
 * time and with 64 in flight (the original's part 1 measured the same way), and the time until
 * a write is visible on all of 3 portals at a moderate and a high paced rate, beside the same
 * figure for the machine's floor (bare stand-ins on the same hops: src/bench/visibility-floor.ts).
 */
export type MqttBroker = 'embedded' | 'mosquitto';

export const MQTT_VISIBILITY_RATES = [250, 1_000] as const;

export function mqttSystemName(portals: number, broker: MqttBroker): string {
  return `portal, mqtt mode (${portals} portal${portals === 1 ? '' : 's'}, ${broker === 'mosquitto' ? 'Mosquitto' : 'embedded broker'})`;
}

export async function runMqttFigures(session: BenchSession, brokers: readonly MqttBroker[]): Promise<void> {
  const start = PORTAL_SYSTEMS.mqtt;
  if (start === undefined) throw new Error('this build has no mqtt mode');
  // First the floor, so that each visibility figure below can be read against what no portal can beat here.
  const floor = session.own(await startVisibilityFloor(3));
  for (const rate of MQTT_VISIBILITY_RATES) {
    if (session.aborted) return;
    await session.run(`the machine's floor under "visible on all 3 portals" at ${rate} writes/s`, visibilityFloorSystemName(3), { workload: 'visibility-floor', target: { kind: 'floor', ports: floor.ports }, rate_per_s: rate, of: floor });
  }
  await session.release(floor);
  for (const broker of brokers) {
    if (session.aborted) return;
    if (broker === 'mosquitto' && findMosquitto() === undefined) {
      session.note('mqtt mode on Mosquitto skipped: Mosquitto is not installed (Debian: apt-get install -y mosquitto)');
      continue;
    }
    const one = session.own(await start(`${session.folder}/mqtt-${broker}-1`, { portals: 1, broker }));
    const oneTarget = { kind: 'portal', host: '127.0.0.1', port: one.port } as const;
    for (const concurrency of [1, 64]) {
      if (session.aborted) return;
      await session.run(`mqtt orders, ${concurrency} in flight`, mqttSystemName(1, broker), { workload: 'create-order', target: oneTarget, concurrency, of: one });
    }
    await session.release(one);
    const three = session.own(await start(`${session.folder}/mqtt-${broker}-3`, { portals: 3, broker }));
    const threeTarget = { kind: 'portal', host: '127.0.0.1', port: three.port, ports: three.ports ?? [three.port] } as const;
    for (const rate of MQTT_VISIBILITY_RATES) {
      if (session.aborted) return;
      await session.run(`mqtt visible on all 3 portals at ${rate} writes/s`, mqttSystemName(3, broker), { workload: 'visibility', target: threeTarget, rate_per_s: rate, of: three });
    }
    await session.release(three);
  }
}
