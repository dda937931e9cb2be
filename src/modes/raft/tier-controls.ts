import type { ControlAction, ProcessEvent, ReplicaControls } from '../../dashboard/controls.js';
import type { ProcessState } from '../../dashboard/cluster-view.js';
import { EventEmitter } from 'node:events';
import type { EcomChild } from '../../util/processes.js';
import { replicaProcessName, type StorageTier } from './storage-tier.js';
import type { ReplicaLinks } from './replica-links.js';

/** Exits and supervised restarts of `ecom up`'s other children (broker, portals), for the timeline. */
export class SupervisedEvents {
  private readonly emitter = new EventEmitter<{ event: [ProcessEvent] }>();

  /** A Supervisor's `onStarted` for the child called `name`. */
  watch(name: string): (child: EcomChild, restarts: number) => void {
    return (child, restarts) => {
      if (restarts > 0) this.emitter.emit('event', { text: `${name} restarted by the supervisor (pid ${child.pid}, restart ${restarts})` });
      void child.exited.then((status) => this.emitter.emit('event', { text: `${name} (pid ${child.pid}) exited (${typeof status === 'number' ? `exit code ${status}` : `signal ${status}`})` }));
    };
  }

  on(listener: (event: ProcessEvent) => void): () => void {
    this.emitter.on('event', listener);
    return () => void this.emitter.off('event', listener);
  }
}

/** What tierControls says when the tier has no link proxies and its owner gave no reason. */
export const NO_LINK_PROXIES = 'cut and heal need the proxies "ecom up" puts on the Raft links when it serves the dashboard; this storage tier runs without them';

/**
 * The dashboard's buttons on the replicas `ecom up` started, through the tier's process group:
 * a kill -9 is a crash like any other, so the supervisor restarts it as `--restart` says, and a
 * restart from the page stops the replica and starts it under the same supervision. Cut and
 * heal act on the tier's link proxies; `linksOff` says why the tier has none (`--no-link-proxies`,
 * a replica not on loopback), for the page and for a refused cut. Colocated (`--colocate`), kill,
 * pause and restart act on the replica's process, so on every replica it hosts: the answer says so.
 */
export function tierControls(tier: StorageTier, others?: SupervisedEvents, linksOff?: string): ReplicaControls {
  const group = tier.processes;
  const idsOf = (name: string) => tier.hosted.find((ids) => replicaProcessName(ids) === name) ?? [];
  const running = (id: number) => group.isRunning(tier.processNameOf(id));
  const pidOf = (id: number) => group.child(tier.processNameOf(id))?.pid;
  // Colocated, a process action acts on every replica the process hosts: say so.
  const alsoHosted = (id: number) => {
    const others = tier.hostedWith(id).filter((other) => other !== id);
    return others.length === 0 ? '' : `; its process also hosts replica ${others.join(', ')}, which went with it`;
  };
  const linksRefusal = tier.links === undefined ? (linksOff ?? NO_LINK_PROXIES) : undefined;
  const act = async (id: number, action: ControlAction): Promise<string> => {
    const name = tier.processNameOf(id);
    if (action === 'cut' || action === 'heal') return actOnLinks(tier.links, id, action, linksRefusal);
    if (action === 'restart') {
      await group.stop([name]);
      return `restarted replica ${id} (pid ${tier.startReplica(id).pid}${alsoHosted(id)})`;
    }
    if (!running(id)) throw new Error(`replica ${id} is not running; restart it instead`);
    const pid = pidOf(id);
    if (action === 'kill') {
      await group.kill(name);
      return `killed replica ${id} (kill -9, pid ${pid}${alsoHosted(id)})`;
    }
    if (action === 'pause') {
      if (group.isPaused(name)) throw new Error(`replica ${id} is paused already; resume it`);
      await group.pause(name);
      return `paused replica ${id} (SIGSTOP, pid ${pid}${alsoHosted(id)}): frozen, it neither answers nor sends until resumed`;
    }
    if (!group.isPaused(name)) throw new Error(`replica ${id} is not paused`);
    group.resume(name);
    return `resumed replica ${id} (SIGCONT, pid ${pid}${alsoHosted(id)})`;
  };
  return {
    replicas: tier.topology.replicas.map((r) => r.id),
    ...(linksRefusal === undefined ? {} : { linksRefusal }),
    process: (id): ProcessState => ({
      pid: pidOf(id),
      running: running(id),
      paused: group.isPaused(tier.processNameOf(id)),
      ...(tier.links === undefined ? {} : { cut: tier.links.isCut(id) }),
    }),
    act,
    onProcessEvent(listener: (event: ProcessEvent) => void) {
      const started = (name: string, child: EcomChild) => {
        for (const id of idsOf(name)) listener({ replica: id, text: `replica ${id}'s process started (pid ${child.pid})` });
      };
      const exited = (name: string, child: EcomChild, status: number | string) => {
        const how = typeof status === 'number' ? `exit code ${status}` : `signal ${status}`;
        for (const id of idsOf(name)) listener({ replica: id, text: `replica ${id}'s process (pid ${child.pid}) exited (${how})` });
      };
      group.events.on('started', started).on('exited', exited);
      const offOthers = others?.on(listener);
      return () => {
        group.events.off('started', started).off('exited', exited);
        offOthers?.();
      };
    },
  };
}

/** Cuts or heals replica `id`'s Raft links; the process is untouched, and a restarted replica stays cut until healed. */
function actOnLinks(links: ReplicaLinks | undefined, id: number, action: 'cut' | 'heal', refusal: string | undefined): string {
  if (links === undefined) throw new Error(`cannot ${action} replica ${id}'s links: ${refusal ?? NO_LINK_PROXIES}`);
  const peers = links.peersOf(id).join(', ');
  if (action === 'cut') {
    if (links.isCut(id)) throw new Error(`replica ${id} is cut off already; heal it`);
    links.cut(id);
    return `replica ${id} cut off from its peers: its Raft links to and from ${peers} drop everything until healed`;
  }
  if (!links.isCut(id)) throw new Error(`replica ${id}'s links are not cut; cut it first`);
  const stillCut = links.heal(id);
  const also = stillCut.length === 0 ? '' : ` (not with ${stillCut.join(', ')}, cut off itself)`;
  return `replica ${id} healed: its Raft links to and from ${peers} pass again${also}`;
}
