/**
 * Clean shutdown on SIGINT/SIGTERM. Install it before starting anything, then push a closer
 * for each resource as it comes up: a signal that arrives during start-up still stops what
 * has started. Closers run once, the last started first, then the process exits 0 (1 if a
 * closer failed). A second Ctrl-C while stopping exits at once, for when something hangs.
 */
export function closeOnSignals(onSignal?: (signal: string) => void): Array<() => Promise<void>> {
  const closers: Array<() => Promise<void>> = [];
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) {
      // A parent that stops its children sends SIGTERM after the terminal's SIGINT reached the
      // whole process group: that is not a person insisting, so only a repeated SIGINT forces.
      if (signal !== 'SIGINT') return;
      process.stderr.write(`\n${signal} again: exiting without waiting\n`);
      process.exit(130);
    }
    stopping = true;
    onSignal?.(signal);
    const run = async () => {
      for (const close of closers.reverse()) await close();
    };
    run().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`error while stopping: ${err instanceof Error ? err.message : String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return closers;
}

/** Runs `stop` once on the first SIGINT or SIGTERM, then exits (see closeOnSignals). */
export function stopOnSignals(stop: () => Promise<void>, onSignal?: (signal: string) => void): void {
  closeOnSignals(onSignal).push(stop);
}
