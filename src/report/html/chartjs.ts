import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

let source: string | undefined;

/**
 * Chart.js's UMD build, read once from the installed package. Its exports map does not expose
 * dist/, so the file is found beside the package's CommonJS entry (dist/chart.cjs).
 */
export function chartJsSource(): string {
  if (source === undefined) {
    const entry = createRequire(import.meta.url).resolve('chart.js');
    source = readFileSync(join(dirname(entry), 'chart.umd.min.js'), 'utf8');
  }
  return source;
}
