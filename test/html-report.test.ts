import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Browser, chromium, type Page } from 'playwright-core';
import { parseNpy, toNpy } from '../src/data/npy.ts';
import { type ArrayData, compress, type CompressionReport } from '../src/index.ts';
import { encodeModel } from '../src/onnx/model.ts';
import { type HtmlReportInput, renderHtmlPage, renderHtmlReport, type SweepPoint } from '../src/report/html/render.ts';
import { chartJsSource } from '../src/report/html/chartjs.ts';
import { PAGE_SCRIPT } from '../src/report/html/page-script.generated.ts';
import { INTACT_COLOR } from '../src/report/html/view.ts';
import { idprune } from './helpers/cli.ts';
import { convReluFlattenGemm } from './helpers/models.ts';
import { floatData } from './helpers/run.ts';

const CHROMIUM = '/usr/bin/chromium';
const noBrowser = existsSync(CHROMIUM)
  ? false
  : `no Chromium at ${CHROMIUM} (apt-get install chromium) to open the HTML report in`;
const fixture = (name: string) => new URL(`fixtures/${name}`, import.meta.url).pathname;
const SCREENSHOT = new URL('../docs/report.png', import.meta.url).pathname;
const EVIL = `</script><img src=x onerror=alert(1)>&"'`;

/**
 * A report as compress builds it, small enough to read: a prunable space, one kept whole and an intact output space.
 */
function handReport(name = '/conv1/Conv'): CompressionReport {
  const space = (
    id: number,
    producer: string,
    channels: number,
    kept: number,
    error: number | null,
    reason?: string,
  ) => ({
    id,
    producers: [producer],
    consumers: reason ? [] : [`/next${id}/Conv`],
    channels,
    flopsShare: 0.3,
    prunable: !reason,
    ...(reason ? { reason } : {}),
    kept,
    error,
  });
  return {
    tool: { name: 'idprune', version: '0.1.0' },
    date: '2026-01-02T03:04:05.000Z',
    target: 'flops=0.5',
    mode: 'plain',
    allocation: 'estimated',
    roundTo: 8,
    convolutionRoundTo: 16,
    finerOnNarrow: true,
    mirrored: false,
    calibrationSamples: 256,
    passesOverData: 1,
    before: { params: 1000, flops: 20000 },
    after: { params: 600, flops: 10000 },
    spaces: [
      space(0, name, 32, 16, 0.12),
      space(1, '/conv2/Conv', 64, 64, 0),
      space(2, '/fc/Gemm', 10, 10, null, 'tensor "logits" is a model output'),
    ],
    timingsSeconds: { analysis: 0.1, statistics: 1.5, selection: 0.7 },
  };
}

/** The JSON in the page's data block, read the way the page reads it. */
function dataBlock(html: string): { source: { report: CompressionReport } } {
  const match = /<script type="application\/json" id="report-data">([\s\S]*?)<\/script>/.exec(html);
  assert.ok(match, 'the page has a data block');
  return JSON.parse(match[1]);
}

/** The first `count` samples of a fixture, as the library takes arrays. */
function firstSamples(name: string, count: number): ArrayData {
  const array = parseNpy(new Uint8Array(readFileSync(fixture(name))), name);
  const perSample = array.shape.slice(1).reduce((a, b) => a * b, 1);
  return { data: array.data.slice(0, count * perSample), shape: [count, ...array.shape.slice(1)], dtype: array.dtype };
}

describe('renderHtmlReport', () => {
  it('puts the report in a JSON block that reads back unchanged, whatever the names hold', () => {
    const report = handReport(EVIL);
    const html = renderHtmlReport({ title: EVIL, report });
    const block = /id="report-data">([\s\S]*?)<\/script>/.exec(html)![1];
    assert.doesNotMatch(block, /[<>&']/, 'markup characters are \\u escapes in the data block');
    assert.deepEqual(dataBlock(html).source.report, report);
    assert.ok(!html.includes('<img'), 'the name appears nowhere as markup');
  });

  it('inlines Chart.js and links to nothing outside the page', () => {
    const html = renderHtmlReport({ title: 'vgg', report: handReport() });
    assert.ok(html.includes(chartJsSource()), 'Chart.js is in the page');
    assert.match(chartJsSource(), /Chart\.js v4\.\d+\.\d+/);
    assert.doesNotMatch(html.replace(chartJsSource(), ''), /\ssrc=|\shref=|<link\b|@import|url\(/i);
    assert.match(html, /Content-Security-Policy" content="default-src 'none'/);
  });

  it('runs the script built from its TypeScript source (npm run build:page-script)', async () => {
    const source = readFileSync(new URL('../src/report/html/browser/page-script.ts', import.meta.url), 'utf8');
    const generated = readFileSync(new URL('../src/report/html/page-script.generated.ts', import.meta.url), 'utf8');
    const { generatedModule } = await import('../scripts/build-page-script.mjs');
    assert.equal(generated, generatedModule(source), 'page-script.generated.ts is out of date');
    assert.ok(renderHtmlReport({ title: 'vgg', report: handReport() }).includes(PAGE_SCRIPT));
  });

  it('refuses script text that would end its <script> element early', () => {
    assert.throws(
      () => renderHtmlPage({ title: 'x', report: handReport() }, 'var a = "</script>";'),
      /cannot be inlined/,
    );
  });
});

describe('the HTML report in Chromium', { skip: noBrowser }, () => {
  let browser: Browser;
  let real: HtmlReportInput;

  before(async () => {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    });
    // The VGG fixture at half its FLOPs, as `npm start` runs it, on a few hundred samples to stay fast.
    const labels = firstSamples('heldout_labels.npy', 256).data as BigInt64Array;
    const { report } = await compress(fixture('vgg.onnx'), firstSamples('calib.npy', 256), {
      targetFlops: 0.5,
      mode: 'plain',
      evaluate: { data: firstSamples('heldout.npy', 256), labels },
    });
    real = {
      title: 'idprune report: vgg.onnx',
      report,
      model: { path: 'test/fixtures/vgg.onnx', inputs: [{ name: 'input', type: 'float32', dims: [null, 1, 28, 28] }] },
      data: {
        calibration: 'test/fixtures/calib.npy (first 256)',
        evaluation: 'test/fixtures/heldout.npy (first 256)',
        labels: 'test/fixtures/heldout_labels.npy',
      },
    };
  });

  after(() => browser?.close());

  /** Opens a page at 1280 px with every network request failed and recorded, and everything that went wrong in it. */
  async function open(html: string) {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const problems: string[] = [];
    const requests: string[] = [];
    const dialogs: string[] = [];
    await page.route('**/*', (route) => {
      requests.push(route.request().url());
      return route.abort();
    });
    page.on('console', (m) => m.type() === 'error' && problems.push(`console: ${m.text()}`));
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      return d.dismiss();
    });
    await page.setContent(html, { waitUntil: 'load' });
    return { page, problems, requests, dialogs };
  }

  /** A chart's labels and datasets; P is a data point: a number for bars, { x, y } for the sweep. */
  interface ChartData<P> {
    labels: string[];
    datasets: { label: string; data: P[]; colors: string[] }[];
  }

  /** What these tests read of the page's Chart.js global: a chart's labels and datasets. */
  interface ChartGlobal<P> {
    Chart: {
      getChart(canvas: HTMLElement | null): {
        data: { labels: string[]; datasets: { label: string; data: P[]; backgroundColor: string[] }[] };
      };
    };
  }

  /** A Chart.js chart's datasets, read from its instance in the page. */
  const chartData = <P = number>(page: Page, canvas: string): Promise<ChartData<P>> =>
    page.evaluate((id) => {
      const chart = (globalThis as unknown as ChartGlobal<P>).Chart.getChart(document.getElementById(id));
      return {
        labels: chart.data.labels,
        datasets: chart.data.datasets.map((d) => ({ label: d.label, data: d.data, colors: d.backgroundColor })),
      };
    }, canvas);

  const texts = (page: Page, selector: string) =>
    page.$$eval(selector, (nodes) => nodes.map((n) => n.textContent ?? ''));

  it('shows a real compression: summary, one bar per space in graph order, the table and the timings', async () => {
    const { report } = real;
    const html = renderHtmlReport(real);
    const { page, problems, requests } = await open(html);
    assert.deepEqual(problems, []);
    assert.deepEqual(requests, [], 'the page loads nothing');

    assert.equal(await page.title(), 'idprune report: vgg.onnx');
    const cards = (await texts(page, '.card')).join('\n');
    assert.match(cards, /FLOPs\s*\d+\.\d%/);
    assert.match(cards, new RegExp(`Agreement${(100 * report.evaluation!.agreement).toFixed(2)}%`));
    assert.match(cards, /Latency ratio, batch 1\d\.\d{3}/);
    assert.ok((await texts(page, '#details td')).includes('test/fixtures/vgg.onnx'));

    const channels = await chartData(page, 'channel-chart');
    assert.equal(channels.datasets[0].data.length, report.spaces.length, 'one bar per space');
    assert.deepEqual(
      channels.labels,
      report.spaces.map((s) => `#${s.id}`),
    );
    assert.deepEqual(
      channels.datasets[0].data,
      report.spaces.map((s) => s.kept),
    );
    assert.deepEqual(
      channels.datasets[1].data,
      report.spaces.map((s) => s.channels - s.kept),
    );
    report.spaces.forEach((s, i) => {
      if (s.prunable)
        assert.notEqual(channels.datasets[0].colors[i], INTACT_COLOR, `space ${s.id} is coloured by its error`);
      else assert.equal(channels.datasets[0].colors[i], INTACT_COLOR, `intact space ${s.id} is grey`);
    });

    const rows = await page.$$eval('#space-table tbody tr', (trs) =>
      trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)),
    );
    assert.equal(rows.length, report.spaces.length);
    const output = report.spaces.findIndex((s) => !s.prunable);
    assert.equal(rows[output].at(-1), `intact: ${report.spaces[output].reason}`);

    const timing = await chartData(page, 'timing-chart');
    assert.deepEqual(timing.labels, Object.keys(report.timingsSeconds));
    assert.equal(
      await page.$eval('#sweep', (s) => (s as HTMLElement).hidden),
      true,
      'no sweep section for one compression',
    );
    assert.ok(
      await page.evaluate(() => document.documentElement.scrollWidth <= 1280),
      'nothing runs wider than 1280 px',
    );

    const png = await page.screenshot({ fullPage: true });
    assert.ok(png.length > 10_000);
    // docs/report.png is the picture in the docs: written when missing or asked for, not on every run.
    if (!existsSync(SCREENSHOT) || process.env.IDPRUNE_SCREENSHOT) {
      mkdirSync(new URL('../docs/', import.meta.url), { recursive: true });
      writeFileSync(SCREENSHOT, png);
    }
    await page.close();
  });

  it('draws a sweep with one point per target on every series and the chosen target ringed', async () => {
    const point = (target: number, seconds: number, accuracy?: number): SweepPoint => ({
      target,
      flops: target - 0.01,
      params: target * 0.8,
      agreement: 0.7 + 0.3 * target,
      estimated: 0.68 + 0.3 * target,
      accuracy,
      cosine: 0.99,
      deviation: 0.1,
      latencyRatio: 0.2 + 0.7 * target,
      seconds,
    });
    // In the order a sweep might run them; the last one has no labels to measure accuracy with.
    const sweep = [point(0.5, 3, 0.85), point(0.3, 2, 0.8), point(0.7, 4, 0.88), point(0.9, 5)];
    const chosen = 2;
    const { page, problems, requests } = await open(renderHtmlReport({ ...real, sweep, chosen }));
    assert.deepEqual(problems, []);
    assert.deepEqual(requests, []);

    const chart = await chartData<{ x: number; y: number }>(page, 'sweep-chart');
    const series = chart.datasets.filter((d) => !d.label.startsWith('chosen'));
    assert.deepEqual(
      series.map((d) => d.label),
      ['agreement', 'estimated agreement', 'accuracy', 'latency ratio', 'parameters (fraction)'],
    );
    for (const d of series) {
      assert.equal(d.data.length, sweep.length, `${d.label}: one point per target`);
      assert.deepEqual(
        d.data.map((p) => p.x),
        [0.29, 0.49, 0.69, 0.89],
        `${d.label}: in order of FLOPs`,
      );
    }
    const ring = chart.datasets.find((d) => d.label.startsWith('chosen'));
    assert.ok(ring, 'the chosen target is marked');
    assert.equal(ring.label, 'chosen: target 0.7');
    assert.equal(ring.data.length, series.length, 'ringed on every series');
    for (const p of ring.data) assert.equal(p.x, sweep[chosen].flops);
    const { agreement, estimated, accuracy, latencyRatio, params } = sweep[chosen];
    assert.deepEqual(
      ring.data.map((p) => p.y),
      [agreement, estimated, accuracy, latencyRatio, params],
    );

    const rows = await page.$$eval('#sweep-table tbody tr', (trs) =>
      trs.map((tr) => ({ marked: tr.classList.contains('marked'), target: tr.firstElementChild!.textContent })),
    );
    assert.deepEqual(
      rows.map((r) => r.target),
      ['0.5', '0.3', '0.7', '0.9'],
    );
    assert.deepEqual(
      rows.map((r) => r.marked),
      [false, false, true, false],
    );
    await page.close();
  });

  it('shows names holding markup as text and runs nothing from them', async () => {
    const report = handReport(EVIL);
    report.spaces[2].reason = EVIL;
    report.timingsSeconds[EVIL] = 0.5;
    const { page, problems, requests, dialogs } = await open(
      renderHtmlReport({ title: EVIL, report, model: { path: EVIL }, data: { calibration: EVIL } }),
    );
    assert.deepEqual(problems, []);
    assert.deepEqual(requests, []);
    assert.deepEqual(dialogs, [], 'no script ran from a name');
    assert.equal(await page.$$eval('img', (imgs) => imgs.length), 0, 'no element made from a name');
    assert.equal(
      await page.$$eval('script', (scripts) => scripts.length),
      3,
      'Chart.js, the data block and the page script',
    );
    assert.equal(await page.title(), EVIL);
    assert.equal(await page.$eval('#title', (h) => h.textContent), EVIL);
    assert.ok((await texts(page, '#space-table td')).includes(EVIL), 'the producer name is a cell of the table');
    assert.ok((await texts(page, '#space-table td')).includes(`intact: ${EVIL}`));
    assert.ok((await texts(page, '#details td')).includes(EVIL), 'the model path is shown');
    assert.ok((await chartData(page, 'timing-chart')).labels.includes(EVIL));
    await page.close();
  });
  it('lists every set of sizes a latency target timed, and the one kept', async () => {
    const report = handReport();
    report.latencySearch = {
      target: 0.6,
      batch: 1,
      threads: 2,
      originalMs: 0.31,
      fixedShare: 0.28,
      attempts: [
        { by: 'latency model', aimed: 0.6, ratio: 0.64, ratioSpread: [0.62, 0.66], error: 0.2 },
        { by: 'FLOPs', aimed: 0.5625, ratio: 0.587, ratioSpread: [0.57, 0.6], error: 0.3 },
      ],
      chosen: 1,
    };
    const { page, problems } = await open(renderHtmlReport({ title: 'vgg', report }));
    assert.deepEqual(problems, []);
    const row = (await texts(page, '#details td')).find((cell) => cell.includes('of the FLOPs'));
    assert.equal(
      row,
      '0.6 of 0.31 ms at batch 1, 2 threads (28% of it in no channel space): ' +
        'model at 0.600: measured 0.640 (interquartile 0.620–0.660); ' +
        '0.563 of the FLOPs: measured 0.587 (interquartile 0.570–0.600) (kept)',
    );
    await page.close();
  });
});

describe('idprune compress --html', () => {
  let dir: string;
  const path = (name: string) => join(dir, name);
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'idprune-html-'));
    writeFileSync(path('model.onnx'), encodeModel(convReluFlattenGemm(1)));
    writeFileSync(path('calib.npy'), toNpy(floatData([64, 2, 6, 6], 1)));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('writes the page beside the model, and an existing page only with --force', async () => {
    const run = (...extra: string[]) =>
      idprune('compress', path('model.onnx'), '--calib', path('calib.npy'), '--mode', 'plain', ...extra);
    const first = await run('-o', path('a.onnx'), '--html', path('report.html'));
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /wrote .*report\.html/);
    assert.ok(existsSync(path('a.onnx')));
    const html = readFileSync(path('report.html'), 'utf8');
    assert.equal(dataBlock(html).source.report.spaces.length > 0, true);
    assert.ok(html.includes(JSON.stringify(path('model.onnx'))), 'the page names the model');

    const refused = await run('-o', path('b.onnx'), '--html', path('report.html'));
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /report\.html exists; pass --force/);
    assert.ok(!existsSync(path('b.onnx')), 'refused before any work');

    const same = await run('-o', path('c.onnx'), '--html', path('c.onnx'));
    assert.match(same.stderr, /--html and --output name the same file/);

    const forced = await run('-o', path('b.onnx'), '--html', path('report.html'), '--force');
    assert.equal(forced.code, 0, forced.stderr);
  });
});
