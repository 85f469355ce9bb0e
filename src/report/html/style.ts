import { INTACT_COLOR, REMOVED_COLOR } from './view.ts';

/** A light page with system fonts only, readable from 1280 px wide down to a laptop's half screen. */
export const STYLE = `
:root { color-scheme: light; --ink: #1f2937; --muted: #6b7280; --line: #e5e7eb; --panel: #f9fafb; --accent: #2563eb; }
* { box-sizing: border-box; }
body {
  margin: 0; background: #fff; color: var(--ink);
  font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
}
header, main { max-width: 1200px; margin: 0 auto; padding: 0 24px; }
header { padding-top: 28px; border-bottom: 1px solid var(--line); padding-bottom: 12px; }
h1 { font-size: 24px; margin: 0 0 4px; overflow-wrap: anywhere; }
h2 { font-size: 18px; margin: 32px 0 8px; }
.muted { color: var(--muted); margin: 0 0 12px; }
section { margin-bottom: 8px; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(200px, 1fr)); gap: 12px; margin-bottom: 16px; }
.card { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; }
.card .label { font-size: 12px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); }
.card .value { font-size: 24px; font-weight: 600; margin: 2px 0; font-variant-numeric: tabular-nums; }
.card .note { font-size: 12px; color: var(--muted); overflow-wrap: anywhere; }
table { border-collapse: collapse; width: 100%; }
.details th { text-align: left; font-weight: 600; width: 160px; padding: 4px 12px 4px 0; vertical-align: top; }
.details td { padding: 4px 0; overflow-wrap: anywhere; }
.grid { font-size: 13px; margin-top: 12px; }
.grid th {
  text-align: left; font-weight: 600; border-bottom: 2px solid var(--line); padding: 6px 8px;
  background: var(--panel); position: sticky; top: 0;
}
.grid td { border-bottom: 1px solid var(--line); padding: 5px 8px; vertical-align: top; overflow-wrap: anywhere; }
.grid .num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.grid tr.marked td { color: var(--muted); }
#sweep-table tr.marked td { color: var(--ink); background: #eff6ff; font-weight: 600; }
.chart { position: relative; height: 340px; }
.chart.tall { height: 380px; }
.legend { display: flex; flex-wrap: wrap; gap: 20px; align-items: center; font-size: 12px; margin-bottom: 8px; }
.legend .muted { margin: 0; }
.scale { display: inline-flex; align-items: center; gap: 6px; }
.gradient { display: inline-block; width: 140px; height: 10px; border-radius: 2px; }
.swatch {
  display: inline-block; width: 12px; height: 12px; border-radius: 2px; margin-right: 6px; vertical-align: -2px;
}
.swatch.intact { background: ${INTACT_COLOR}; }
.swatch.removed { background: ${REMOVED_COLOR}; border: 1px solid #cbd5e1; }
.noscript { padding: 24px; }
`;
