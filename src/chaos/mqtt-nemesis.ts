import type { MqttChaosCluster } from './mqtt-cluster.js';
import type { Injection, PlannedFault } from './schedule.js';

/**
 * The faults of an mqtt-mode run. Portals keep the data in memory only, so the nemesis never
 * takes down every portal at once (that loses everything by design, as in the original); one
 * fault at a time, each healed before the next, always leaves a portal holding the data.
 */
export const MQTT_FAULT_KINDS = ['broker-restart', 'portal-kill', 'portal-pause', 'portal-cut'] as const;
export type MqttFaultKind = (typeof MQTT_FAULT_KINDS)[number];

/** How many targets a fault of this kind picks among: the broker is one, portals are many. */
export function mqttTargets(kind: MqttFaultKind, portals: number): number {
  return kind === 'broker-restart' ? 1 : portals;
}

export async function injectMqtt(cluster: MqttChaosCluster, fault: PlannedFault<MqttFaultKind>): Promise<Injection> {
  const portal = cluster.portals[fault.pick % cluster.portals.length]!;
  switch (fault.kind) {
    case 'broker-restart':
      // Whatever it had accepted but not yet forwarded is lost, for some portals or for all.
      await cluster.processes.kill('broker');
      return {
        description: 'kill -9 the MQTT broker',
        targets: ['broker'],
        heal: async () => {
          if (!cluster.brokerRunning()) await cluster.startBroker();
        },
      };
    case 'portal-kill':
      await cluster.processes.kill(portal.name);
      return {
        description: `kill -9 ${portal.name} (it rejoins empty and takes a peer's state)`,
        targets: [portal.name],
        heal: async () => {
          if (!cluster.portalRunning(portal.index)) await cluster.startPortal(portal.index);
        },
      };
    case 'portal-pause':
      await cluster.processes.pause(portal.name);
      return {
        description: `SIGSTOP ${portal.name}`,
        targets: [portal.name],
        heal: async () => {
          cluster.processes.resume(portal.name);
          await Promise.resolve();
        },
      };
    case 'portal-cut':
      cluster.setLink(portal.index, fault.link);
      return {
        description: `${portal.name} cut off from the broker (${fault.link === 'drop' ? 'connection dropped' : 'traffic stalled both ways'})`,
        targets: [portal.name, 'broker'],
        heal: async () => {
          cluster.setLink(portal.index, 'pass');
          await Promise.resolve();
        },
      };
  }
}
