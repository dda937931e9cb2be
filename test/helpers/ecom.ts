import { spawn } from 'node:child_process';
import { childPortDepth } from '../../src/util/ports.js';
import { ECOM_BIN } from '../../src/util/processes.js';

export interface EcomRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `ecom ...args` to completion with `input` piped to its stdin. */
export function runEcom(args: readonly string[], options: { input?: string; env?: NodeJS.ProcessEnv; timeout_ms?: number } = {}): Promise<EcomRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [ECOM_BIN, ...args], {
      env: { ...process.env, ECOM_LANG: '', ...childPortDepth(), ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`ecom ${args.join(' ')} did not finish in time; stdout so far:\n${stdout}\nstderr:\n${stderr}`));
    }, options.timeout_ms ?? 20_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}
