// Runs bench/real-worker.ts for one corpus model in a process of its own (bench:real, bench:latency).
import { spawn } from 'node:child_process';
import type { WorkerOptions } from './real-worker.ts';

/** Runs one model's worker; collects its RESULT lines; a crash or the time budget ends it. */
export function runWorker(
  id: string,
  options: WorkerOptions,
  budgetSeconds: number,
): Promise<{ results: Record<string, unknown>[]; failure?: string }> {
  return new Promise((resolve) => {
    const worker = new URL('./real-worker.ts', import.meta.url).pathname;
    const child = spawn(process.execPath, ['--import', 'tsx', worker, id, JSON.stringify(options)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const results: Record<string, unknown>[] = [];
    let pending = '';
    let lastError = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines) if (line.startsWith('RESULT ')) results.push(JSON.parse(line.slice(7)));
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      process.stderr.write(chunk);
      const last = chunk.trim().split('\n').filter(Boolean).pop();
      if (last) lastError = last;
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, budgetSeconds * 1000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (timedOut) resolve({ results, failure: `stopped after the ${budgetSeconds} s budget` });
      else if (code !== 0)
        resolve({ results, failure: `worker exited (${signal ?? `code ${code}`}): ${lastError.slice(0, 200)}` });
      else resolve({ results });
    });
  });
}
