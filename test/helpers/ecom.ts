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

/**
 * Resolves once `ecom up` (a child whose output lines are collected in `lines`) has printed
 * "system is up"; fails if it exits first or takes longer than `timeout_ms`, showing its last lines.
 */
export async function waitUntilUp(lines: readonly string[], up: { readonly process: { readonly exitCode: number | null } }, timeout_ms = 30_000): Promise<string> {
  const deadline = Date.now() + timeout_ms;
  for (;;) {
    const line = lines.find((l) => l.includes('system is up'));
    if (line !== undefined) return line;
    if (Date.now() > deadline || up.process.exitCode !== null) throw new Error(`ecom up did not finish starting:\n${lines.slice(-20).join('\n')}`);
    // Its output has no event to await but its lines: poll them.
    await new Promise((r) => setTimeout(r, 50));
  }
}
