import { counterReadAtScrape, gaugeReadAtScrape, type MetricsRegistry } from './registry.js';

/** What an mqtt-mode portal's replica of the command log shows when scraped. */
export interface MqttSyncStats {
  /** Commands applied here. */
  readonly position: number;
  /** The highest position a peer announced (in its checks and state requests). */
  readonly peerPosition: number;
  /** Messages received from the broker and held while waiting for a peer's state. */
  readonly buffered: number;
  readonly statesSent: number;
  readonly statesReceived: number;
  /** In step with the log (1) or connecting, waiting for a state (0). */
  readonly live: boolean;
}

export function watchMqttSync(registry: MetricsRegistry, stats: () => MqttSyncStats): void {
  gaugeReadAtScrape(registry, 'ecom_mqtt_log_position', 'Commands of the shared log applied by this portal', () => stats().position);
  gaugeReadAtScrape(registry, 'ecom_mqtt_lag_commands', 'Commands a peer announced having applied that this portal has not yet (0 when in step)', () => {
    const s = stats();
    return Math.max(0, s.peerPosition - s.position);
  });
  gaugeReadAtScrape(registry, 'ecom_mqtt_buffered_messages', 'Messages from the broker held while this portal waits for a peer\'s state', () => stats().buffered);
  gaugeReadAtScrape(registry, 'ecom_mqtt_live', '1 when this portal is in step with the log and takes writes, 0 while it connects or waits for a state', () => (stats().live ? 1 : 0));
  counterReadAtScrape(registry, 'ecom_mqtt_state_transfers_sent_total', 'Whole states this portal sent to a peer that asked', () => stats().statesSent);
  counterReadAtScrape(registry, 'ecom_mqtt_state_transfers_received_total', 'Whole states from a peer this portal installed', () => stats().statesReceived);
}
