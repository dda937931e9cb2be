/** What a worker process talks to; plain data, so it travels to the worker as JSON. */
export type Target =
  /** The storage API of a raft tier, through `PartitionedBackend` (what a portal uses). */
  | { readonly kind: 'storage'; readonly topologyFile: string }
  /** A portal server (AdminPortal and OrderPortal on one port). */
  | { readonly kind: 'portal'; readonly host: string; readonly port: number; readonly ports?: readonly number[] }
  /** The visibility floor's stand-ins for mqtt mode's portals (src/bench/visibility-floor.ts). */
  | { readonly kind: 'floor'; readonly ports: readonly number[] }
  /** An etcd cluster through its own client (the comparison's baseline). */
  | { readonly kind: 'etcd'; readonly endpoints: readonly string[] };
