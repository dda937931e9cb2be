import { InvalidArgumentError, Option } from 'commander';
import { RESTART_POLICIES, type RestartPolicy } from '../util/supervisor.js';
import type { ModeOptions } from './mode.js';

/** `ecom up --restart`: what happens to a child process that exits unexpectedly (raft and mqtt modes). */
export const restartOption = () =>
  new Option('--restart <policy>', 'raft and mqtt modes: "on-failure" restarts a replica, portal or broker that exits unexpectedly (with backoff); "no" leaves it down, for demonstrations')
    .argParser((value: string) => {
      if (!(RESTART_POLICIES as readonly string[]).includes(value)) throw new InvalidArgumentError(`choose ${RESTART_POLICIES.join(' or ')}`);
      return value;
    })
    .default('on-failure');

export function restartPolicy(options: ModeOptions): RestartPolicy {
  return options.restart === 'no' ? 'no' : 'on-failure';
}
