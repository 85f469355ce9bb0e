/**
 * The compression report as one self-contained HTML page. The page itself is built by
 * renderHtmlPage (html/page.ts), which has no I/O and could run in a browser; this entry adds
 * Chart.js's script, read from the installed package.
 */
import { chartJsSource } from './html/chartjs.ts';
import { renderHtmlPage } from './html/page.ts';
import type { HtmlReportInput } from './html/types.ts';

export type { HtmlReportInput, SweepPoint } from './html/types.ts';
export { renderHtmlPage, scriptSafeJson } from './html/page.ts';

export function renderHtmlReport(input: HtmlReportInput): string {
  return renderHtmlPage(input, chartJsSource());
}
