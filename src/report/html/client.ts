/**
 * The script the page runs: it reads the data block (PageData, see view.ts) and builds the text
 * with textContent and the charts with Chart.js. It is plain JavaScript because it runs in the
 * browser as written; the browser tests exercise it.
 */
export const CLIENT_SCRIPT = String.raw`
(function () {
  'use strict';
  var data = JSON.parse(document.getElementById('report-data').textContent);

  function el(tag, text, className) {
    var node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;
    if (className) node.className = className;
    return node;
  }
  function byId(id) { return document.getElementById(id); }

  function fillTable(table, spec) {
    var head = el('tr');
    spec.header.forEach(function (h, i) { head.appendChild(el('th', h, spec.numeric[i] ? 'num' : '')); });
    table.tHead.appendChild(head);
    var body = table.tBodies[0];
    spec.rows.forEach(function (row) {
      var tr = el('tr', undefined, row.marked ? 'marked' : '');
      row.cells.forEach(function (cell, i) { tr.appendChild(el('td', cell, spec.numeric[i] ? 'num' : '')); });
      body.appendChild(tr);
    });
  }

  function header() {
    document.title = data.title;
    byId('title').textContent = data.title;
    byId('subtitle').textContent = data.subtitle;
  }

  function summary() {
    var cards = byId('cards');
    data.cards.forEach(function (c) {
      var card = el('div', undefined, 'card');
      card.appendChild(el('div', c.label, 'label'));
      card.appendChild(el('div', c.value, 'value'));
      card.appendChild(el('div', c.note, 'note'));
      cards.appendChild(card);
    });
    var body = byId('details').tBodies[0];
    data.details.forEach(function (row) {
      var tr = el('tr');
      tr.appendChild(el('th', row[0]));
      tr.appendChild(el('td', row[1]));
      body.appendChild(tr);
    });
  }

  function channelChart() {
    var c = data.channels;
    byId('error-gradient').style.background = c.gradient;
    byId('error-max').textContent = c.errorMax;
    new Chart(byId('channel-chart'), {
      type: 'bar',
      data: {
        labels: c.labels,
        datasets: [
          { label: 'kept', data: c.kept, backgroundColor: c.colors, borderWidth: 0 },
          {
            label: 'removed',
            data: c.removed,
            backgroundColor: c.removedColor,
            borderColor: '#cbd5e1',
            borderWidth: 1,
          },
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
          tooltip: { callbacks: { afterTitle: function (items) { return c.tooltips[items[0].dataIndex]; } } },
        },
      },
    });
  }

  function timingChart() {
    var t = data.timings;
    byId('timing-total').textContent = 'total ' + t.total;
    var box = byId('timing-chart').parentNode;
    box.style.height = (60 + 30 * t.stages.length) + 'px';
    new Chart(byId('timing-chart'), {
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
          tooltip: { callbacks: { label: function (item) { return item.parsed.x.toFixed(2) + ' s'; } } },
        },
      },
    });
  }

  function sweepChart() {
    var s = data.sweep;
    if (!s) return;
    byId('sweep').hidden = false;
    var datasets = s.series.map(function (series) {
      return {
        label: series.label,
        data: series.points,
        borderColor: series.color,
        backgroundColor: series.color,
        borderDash: series.dashed ? [6, 4] : [],
        showLine: true,
        pointRadius: 4,
      };
    });
    if (s.chosen) {
      datasets.push({
        label: s.chosen.label,
        data: s.chosen.points,
        showLine: false,
        pointStyle: 'circle',
        pointRadius: 10,
        pointHoverRadius: 11,
        borderColor: '#111827',
        borderWidth: 2,
        backgroundColor: 'rgba(0, 0, 0, 0)',
      });
    }
    new Chart(byId('sweep-chart'), {
      type: 'scatter',
      data: { datasets: datasets },
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
              title: function (items) {
                var item = items[0];
                return item.datasetIndex === s.series.length ? s.chosen.label : s.tooltips[item.dataIndex];
              },
              label: function (item) {
                return item.dataset.label + ': ' + (item.parsed.y === null ? '–' : item.parsed.y.toFixed(4));
              },
            },
          },
        },
      },
    });
    fillTable(byId('sweep-table'), s.table);
  }

  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  Chart.defaults.color = '#374151';
  header();
  summary();
  sweepChart();
  channelChart();
  fillTable(byId('space-table'), data.spaceTable);
  timingChart();
})();
`;
