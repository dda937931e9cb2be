import { ReplicaClusterClient } from '../storage/client/cluster-client.js';
import type { Topology } from '../storage/common/topology.js';
import { clusterView, type ClusterView, type StatusAnswer } from './cluster-view.js';
import type { ReplicaControls } from './controls.js';
import type { PortalFeed, PortalsView } from './portal-feed.js';
import { changesBetween, Timeline, type NewEvent, type TimelineEvent } from './timeline.js';

/**
 * Polls every replica's status (the request `ecom status` sends, authenticated with the
 * cluster secret) a few times a second and turns successive answers into views and timeline
 * events for the dashboard's pages. One round at a time: a slow replica delays the next round
 * instead of piling requests up.
 */
export const POLL_INTERVAL_MS = 250;
/** A replica that has not answered within this is shown as down (a paused process, say). */
export const POLL_TIMEOUT_MS = 400;

export interface FeedUpdate {
  readonly view: ClusterView;
  readonly events: readonly TimelineEvent[];
  /** Only when the owner can scrape the portals' metrics. */
  readonly portals?: PortalsView;
}

export type FeedListener = (update: FeedUpdate) => void;

export class ClusterFeed {
  readonly timeline = new Timeline();
  private readonly client: ReplicaClusterClient;
  private readonly listeners = new Set<FeedListener>();
  private latest: ClusterView | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private unsubscribe: (() => void) | undefined;
  private pending: TimelineEvent[] = [];

  constructor(
    readonly topology: Topology,
    private readonly controls?: ReplicaControls,
    private readonly onError: (err: Error) => void = () => undefined,
    readonly portals?: PortalFeed,
  ) {
    this.client = new ReplicaClusterClient(topology);
  }

  /** The last view, once the first round has answered. */
  get view(): ClusterView | undefined {
    return this.latest;
  }

  start(): void {
    this.unsubscribe = this.controls?.onProcessEvent((e) => this.record({ kind: 'process', replica: e.replica, partition: e.replica === undefined ? undefined : this.partitionOf(e.replica), text: e.text }));
    this.portals?.start((event) => this.record(event));
    void this.round();
  }

  /** Adds an event from outside the polls (a process exit, a button pressed); listeners get it with the next view. */
  record(event: NewEvent): TimelineEvent {
    const stamped = this.timeline.add(event);
    this.pending.push(stamped);
    return stamped;
  }

  subscribe(listener: FeedListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private partitionOf(id: number): number | undefined {
    return this.topology.replicas.find((r) => r.id === id)?.partition;
  }

  private async round(): Promise<void> {
    if (this.stopped) return;
    let answers: StatusAnswer[];
    try {
      answers = await this.client.statuses(POLL_TIMEOUT_MS);
    } catch (err) {
      // statuses() reports each replica's failure in its answer; anything else is worth a line, not a stopped page.
      this.onError(err as Error);
      answers = this.topology.replicas.map((r) => ({ id: r.id, partition: r.partition, unreachable: (err as Error).message }));
    }
    if (this.stopped) return;
    const view = clusterView(this.topology, answers, (id) => this.controls?.process(id));
    for (const change of changesBetween(this.latest, view)) this.record(change);
    this.latest = view;
    const update = { view, events: this.pending, ...(this.portals?.view === undefined ? {} : { portals: this.portals.view }) };
    this.pending = [];
    for (const listener of this.listeners) listener(update);
    this.timer = setTimeout(() => void this.round(), POLL_INTERVAL_MS);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.unsubscribe?.();
    this.portals?.stop();
    this.listeners.clear();
    await this.client.close();
  }
}
