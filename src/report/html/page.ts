import { PAGE_SCRIPT } from './page-script.generated.ts';
import { STYLE } from './style.ts';
import type { HtmlReportInput } from './types.ts';
import { pageData } from './view.ts';

/**
 * JSON that can sit inside a `<script>` element: `<`, `>`, `&` and `'` are written as \u escapes
 * (JSON already escapes `"`), so no string in it can close the element or open a comment, and
 * JSON.parse reads it back unchanged. U+2028/2029 too, for tools that read it as JavaScript.
 */
export function scriptSafeJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[<>&'\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** Refuses script text the HTML parser would not end where we mean it to. */
function inlineScript(source: string, what: string): string {
  if (/<\/script|<!--/i.test(source)) throw new Error(`${what} contains "</script" or "<!--" and cannot be inlined`);
  return `<script>${source}</script>`;
}

/** Allows the inline script and style only: the page loads nothing. */
const CONTENT_SECURITY_POLICY = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'";

/**
 * The report as one HTML page that needs no network: Chart.js (its UMD build, given as
 * `chartJs`) and the data are inline, and the page builds its text with textContent only.
 * Pure: it runs as well in a browser as in Node.
 */
export function renderHtmlPage(input: HtmlReportInput, chartJs: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="${CONTENT_SECURITY_POLICY}">
<title>idprune report</title>
<style>${STYLE}</style>
${inlineScript(chartJs, 'Chart.js')}
</head>
<body>
<noscript><p class="noscript">This report draws its content with JavaScript; please enable it.</p></noscript>
<header>
  <h1 id="title"></h1>
  <p id="subtitle" class="muted"></p>
</header>
<main>
  <section id="summary">
    <h2>Summary</h2>
    <div id="cards" class="cards"></div>
    <table id="details" class="details"><tbody></tbody></table>
  </section>
  <section id="sweep" hidden>
    <h2>Sweep</h2>
    <p class="muted">One point per target, against the fraction of the original FLOPs kept;
      the chosen target is ringed.</p>
    <div class="chart"><canvas id="sweep-chart"
      aria-label="Quality and latency against FLOPs, one point per target" role="img"></canvas></div>
    <table id="sweep-table" class="grid"><thead></thead><tbody></tbody></table>
  </section>
  <section id="channels">
    <h2>Channels kept per space</h2>
    <p class="muted">Channel spaces in graph order: kept channels coloured by the error of the space,
      removed channels stacked above in pale grey.</p>
    <div class="legend">
      <span class="scale">
        <span class="muted">error 0</span>
        <span id="error-gradient" class="gradient"></span>
        <span id="error-max" class="muted"></span>
      </span>
      <span><span class="swatch intact"></span>intact (not pruned)</span>
      <span><span class="swatch removed"></span>removed</span>
    </div>
    <div class="chart tall"><canvas id="channel-chart"
      aria-label="Kept and original channels per channel space" role="img"></canvas></div>
  </section>
  <section id="spaces">
    <h2>Channel spaces</h2>
    <table id="space-table" class="grid"><thead></thead><tbody></tbody></table>
  </section>
  <section id="timing">
    <h2>Time by stage</h2>
    <p id="timing-total" class="muted"></p>
    <div class="chart short"><canvas id="timing-chart"
      aria-label="Seconds spent in each stage" role="img"></canvas></div>
  </section>
</main>
<script type="application/json" id="report-data">${scriptSafeJson(pageData(input))}</script>
${inlineScript(PAGE_SCRIPT, 'the page script')}
</body>
</html>
`;
}
