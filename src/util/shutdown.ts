/**
 * Runs `stop` once on the first SIGINT or SIGTERM, then exits 0 (1 if stopping failed).
 * A second Ctrl-C while stopping exits at once, for when something hangs.
 */
export function stopOnSignals(stop: () => Promise<void>, onSignal?: (signal: string) => void): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) {
      process.stderr.write(`\n${signal} again: exiting without waiting\n`);
      process.exit(130);
    }
    stopping = true;
    onSignal?.(signal);
    stop().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`error while stopping: ${err instanceof Error ? err.message : String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}
