import type { ControlAction, ProcessEvent, ReplicaControls } from '../../dashboard/controls.js';
import type { ProcessState } from '../../dashboard/cluster-view.js';
import { EventEmitter } from 'node:events';
import type { EcomChild } from '../../util/processes.js';
import { replicaProcessName, type StorageTier } from './storage-tier.js';

/**
 * The dashboard's buttons on the replicas `ecom up` started, through the tier's process group:
 * a kill -9 is a crash like any other, so the supervisor restarts it as `--restart` says, and a
 * restart from the page stops the replica and starts it under the same supervision.
 */
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

export function tierControls(tier: StorageTier, others?: SupervisedEvents): ReplicaControls {
  const group = tier.processes;
  const idOf = (name: string) => tier.topology.replicas.find((r) => replicaProcessName(r.id) === name)?.id;
  const running = (id: number) => group.isRunning(replicaProcessName(id));
  const pidOf = (id: number) => group.child(replicaProcessName(id))?.pid;
  const act = async (id: number, action: ControlAction): Promise<string> => {
    const name = replicaProcessName(id);
    if (action === 'restart') {
      await group.stop([name]);
      return `restarted replica ${id} (pid ${tier.startReplica(id).pid})`;
    }
    if (!running(id)) throw new Error(`replica ${id} is not running; restart it instead`);
    const pid = pidOf(id);
    if (action === 'kill') {
      await group.kill(name);
      return `killed replica ${id} (kill -9, pid ${pid})`;
    }
    if (action === 'pause') {
      if (group.isPaused(name)) throw new Error(`replica ${id} is paused already; resume it`);
      group.pause(name);
      return `paused replica ${id} (SIGSTOP, pid ${pid}): frozen, it neither answers nor sends until resumed`;
    }
    if (!group.isPaused(name)) throw new Error(`replica ${id} is not paused`);
    group.resume(name);
    return `resumed replica ${id} (SIGCONT, pid ${pid})`;
  };
  return {
    replicas: tier.topology.replicas.map((r) => r.id),
    process: (id): ProcessState => ({ pid: pidOf(id), running: running(id), paused: group.isPaused(replicaProcessName(id)) }),
    act,
    onProcessEvent(listener: (event: ProcessEvent) => void) {
      const started = (name: string, child: EcomChild) => {
        const id = idOf(name);
        if (id !== undefined) listener({ replica: id, text: `replica ${id}'s process started (pid ${child.pid})` });
      };
      const exited = (name: string, child: EcomChild, status: number | string) => {
        const id = idOf(name);
        const how = typeof status === 'number' ? `exit code ${status}` : `signal ${status}`;
        if (id !== undefined) listener({ replica: id, text: `replica ${id}'s process (pid ${child.pid}) exited (${how})` });
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
