import type { Command } from 'commander';

/**
 * The command line's groups of commands, each in its own module, loaded only when named.
 *
 * A one-shot client command must answer in a fraction of a second, and loading every mode
 * (etcd's client alone takes 100 ms, the bench and the replica as much again) would cost more
 * than the call itself.
 */
export type Register = (program: Command) => void;

export interface CommandGroup {
  /** Every top-level command the group's module registers. */
  readonly commands: readonly string[];
  readonly load: () => Promise<Register>;
}

export const COMMAND_GROUPS: readonly CommandGroup[] = [
  { commands: ['up', 'admin-server', 'order-server'], load: async () => (await import('./server-commands.js')).registerServerCommands },
  { commands: ['admin', 'order'], load: async () => (await import('./client-commands.js')).registerClientCommands },
  { commands: ['storage', 'status', 'leader', 'secret'], load: async () => (await import('./storage-commands.js')).registerStorageCommands },
  { commands: ['member'], load: async () => (await import('./member-commands.js')).registerMemberCommands },
  { commands: ['backup', 'restore'], load: async () => (await import('./backup-commands.js')).registerBackupCommands },
  { commands: ['dashboard'], load: async () => (await import('./dashboard-command.js')).registerDashboardCommand },
  { commands: ['broker'], load: async () => (await import('./broker-command.js')).registerBrokerCommand },
  { commands: ['bench', 'bench-worker', 'bench-floor-node'], load: async () => (await import('./bench-command.js')).registerBenchCommand },
];
