/**
 * The compression report as one self-contained HTML page. The page itself is built by
 * renderHtmlPage (html/page.ts), which has no I/O and could run in a browser; this entry adds
 * Chart.js's script, read from the installed package.
 */
import { chartJsSource } from './chartjs.ts';
import { renderHtmlPage } from './page.ts';
import type { HtmlReportInput } from './types.ts';

export type { HtmlReportInput, SweepPoint } from './types.ts';
export { renderHtmlPage, scriptSafeJson } from './page.ts';

export function renderHtmlReport(input: HtmlReportInput): string {
  return renderHtmlPage(input, chartJsSource());
}
