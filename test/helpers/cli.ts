import { execFile } from 'node:child_process';

const main = new URL('../../src/cli/main.ts', import.meta.url).pathname;

export interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the idprune command in a child process. */
export function idprune(...args: string[]): Promise<Outcome> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', main, ...args],
      { env: { ...process.env, IDPRUNE_DEBUG: '' } },
      (error, stdout, stderr) => {
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
      },
    );
  });
}
