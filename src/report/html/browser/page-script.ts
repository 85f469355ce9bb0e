// The script the report page runs, written for the browser (type-checked by tsconfig.browser.json,
// turned into the page's inline script by scripts/build-page-script.mjs). It reads the data block
// (PageData, see view.ts), sets every text with textContent and draws the charts with Chart.js,
// which the page inlines before it. It imports types only: nothing of it runs but this file.
import type { ChartDataset, Chart as ChartClass, TooltipItem } from 'chart.js';
import type { PageData, Table } from '../view.ts';

declare const Chart: typeof ChartClass;

const data: PageData = JSON.parse(document.getElementById('report-data')!.textContent!);

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  text?: string,
  className?: string,
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  return node;
}

function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  return document.getElementById(id) as T;
}

function fillTable(table: HTMLTableElement, spec: Table): void {
  const head = el('tr');
  spec.header.forEach((h, i) => {
    head.appendChild(el('th', h, spec.numeric[i] ? 'num' : ''));
  });
  table.tHead!.appendChild(head);
  const body = table.tBodies[0];
  for (const row of spec.rows) {
    const tr = el('tr', undefined, row.marked ? 'marked' : '');
    row.cells.forEach((cell, i) => {
      tr.appendChild(el('td', cell, spec.numeric[i] ? 'num' : ''));
    });
    body.appendChild(tr);
  }
}

function header(): void {
  document.title = data.title;
  byId('title').textContent = data.title;
  byId('subtitle').textContent = data.subtitle;
}

function summary(): void {
  const cards = byId('cards');
  for (const c of data.cards) {
    const card = el('div', undefined, 'card');
    card.appendChild(el('div', c.label, 'label'));
    card.appendChild(el('div', c.value, 'value'));
    card.appendChild(el('div', c.note, 'note'));
    cards.appendChild(card);
  }
  const body = byId<HTMLTableElement>('details').tBodies[0];
  for (const [name, value] of data.details) {
    const tr = el('tr');
    tr.appendChild(el('th', name));
    tr.appendChild(el('td', value));
    body.appendChild(tr);
  }
}

function channelChart(): void {
  const c = data.channels;
  byId('error-gradient').style.background = c.gradient;
  byId('error-max').textContent = c.errorMax;
  new Chart(byId<HTMLCanvasElement>('channel-chart'), {
    type: 'bar',
    data: {
      labels: c.labels,
      datasets: [
        { label: 'kept', data: c.kept, backgroundColor: c.colors, borderWidth: 0 },
        { label: 'removed', data: c.removed, backgroundColor: c.removedColor, borderColor: '#cbd5e1', borderWidth: 1 },
      ],
    },
    options: {
      maintainAspectRatio: false,
      animation: false,
      scales: {
        x: { stacked: true, title: { display: true, text: 'channel space (graph order)' }, grid: { display: false } },
        y: { stacked: true, beginAtZero: true, title: { display: true, text: 'channels' } },
      },
      plugins: {
        legend: { display: false },
        tooltip: { callbacks: { afterTitle: (items) => c.tooltips[items[0].dataIndex] } },
      },
    },
  });
}

function timingChart(): void {
  const t = data.timings;
  byId('timing-total').textContent = `total ${t.total}`;
  const box = byId('timing-chart').parentElement!;
  box.style.height = `${60 + 30 * t.stages.length}px`;
  new Chart(byId<HTMLCanvasElement>('timing-chart'), {
    type: 'bar',
    data: { labels: t.stages, datasets: [{ label: 'seconds', data: t.seconds, backgroundColor: '#60a5fa' }] },
    options: {
      indexAxis: 'y',
      maintainAspectRatio: false,
      animation: false,
      scales: {
        x: { beginAtZero: true, title: { display: true, text: 'seconds' } },
        y: { grid: { display: false } },
      },
      plugins: {
        legend: { display: false },
        tooltip: { callbacks: { label: (item) => `${(item.parsed.x ?? 0).toFixed(2)} s` } },
      },
    },
  });
}

function sweepChart(): void {
  const s = data.sweep;
  if (!s) return;
  byId('sweep').hidden = false;
  const datasets: ChartDataset<'scatter'>[] = s.series.map((series) => ({
    label: series.label,
    data: series.points,
    borderColor: series.color,
    backgroundColor: series.color,
    borderDash: series.dashed ? [6, 4] : [],
    showLine: true,
    pointRadius: 4,
  }));
  const chosen = s.chosen;
  if (chosen) {
    datasets.push({
      label: chosen.label,
      data: chosen.points,
      showLine: false,
      pointStyle: 'circle',
      pointRadius: 10,
      pointHoverRadius: 11,
      borderColor: '#111827',
      borderWidth: 2,
      backgroundColor: 'rgba(0, 0, 0, 0)',
    });
  }
  new Chart(byId<HTMLCanvasElement>('sweep-chart'), {
    type: 'scatter',
    data: { datasets },
    options: {
      maintainAspectRatio: false,
      animation: false,
      scales: {
        x: { title: { display: true, text: 'FLOPs kept (fraction of the original)' } },
        y: { title: { display: true, text: 'share of samples / fraction of the original' } },
      },
      plugins: {
        tooltip: {
          callbacks: {
            title: (items: TooltipItem<'scatter'>[]) => {
              const item = items[0];
              return item.datasetIndex === s.series.length && chosen ? chosen.label : s.tooltips[item.dataIndex];
            },
            label: (item: TooltipItem<'scatter'>) =>
              `${item.dataset.label}: ${item.parsed.y === null ? '–' : item.parsed.y.toFixed(4)}`,
          },
        },
      },
    },
  });
  fillTable(byId<HTMLTableElement>('sweep-table'), s.table);
}

Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
Chart.defaults.color = '#374151';
header();
summary();
sweepChart();
channelChart();
fillTable(byId<HTMLTableElement>('space-table'), data.spaceTable);
timingChart();
