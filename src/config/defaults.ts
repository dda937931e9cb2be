/** Default addresses (docs/spec.md R-PORT-1): the original test script's portal ports and its MQTT port. */
export const DEFAULTS = {
  host: '127.0.0.1',
  adminPort: 55006,
  orderPort: 55005,
  mqttPort: 1884,
} as const;
