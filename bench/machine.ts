// Prints what a benchmark figure depends on: the command, the machine, the runtime.
import * as os from 'node:os';

export function printMachine(): void {
  const cpus = os.cpus();
  console.log(`command: node ${process.execArgv.join(' ')} ${process.argv.slice(1).join(' ')}`);
  console.log(`machine: ${cpus.length} cores (${cpus[0]?.model ?? 'unknown cpu'}), ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB, ${os.platform()} ${os.release()}`);
  console.log(`runtime: node ${process.version}`);
}
