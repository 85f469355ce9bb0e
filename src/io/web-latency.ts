import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { IdpruneError } from '../errors.ts';
import {
  DEFAULT_LATENCY_RUNS,
  type Latency,
  type LatencyMeter,
  type LatencySetting,
  MAX_RUNS,
  MIN_SECONDS,
  summarizeLatency,
} from '../onnx/latency.ts';
import type { Feeds } from '../onnx/runtime.ts';

type Page = import('playwright-core').Page;

/*
 * Latency in the browser's runtime: onnxruntime-web (WebAssembly) in a headless Chromium, timed
 * inside the page as onnxruntime-node is timed in Node (interleaved pairs, at least half a second
 * per model), so that a web user's sizes are chosen by what their runtime runs fast. The page is
 * served cross-origin isolated, which lets onnxruntime-web run threads and the page's clock resolve
 * microseconds. Needs the optional packages playwright-core and onnxruntime-web, and a Chromium.
 */

export const WEB_RUNTIME = 'onnxruntime-web (WebAssembly) in Chromium';
const CHROMIUM_PATHS = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];
const TYPES: Record<string, string> = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.mjs': 'text/javascript',
  '.wasm': 'application/wasm',
};

/** What the page receives: each model and each feed by URL, the feeds' types and shapes inline. */
interface PageRun {
  models: [string, string];
  feeds: [
    Record<string, { type: string; dims: number[]; url: string }>,
    Record<string, { type: string; dims: number[]; url: string }>,
  ];
  threads: number;
  runs: number;
  minSeconds: number;
  maxRuns: number;
}

/**
 * A latency meter on onnxruntime-web in Chromium (CHROMIUM, or the first of the usual paths).
 * Each measurement starts a browser and a local server, and closes both.
 */
export function webLatencyMeter(): LatencyMeter {
  return async (original, candidate, feeds, setting) => measureInBrowser(original, candidate, feeds, setting);
}

async function measureInBrowser(
  original: Uint8Array,
  candidate: Uint8Array,
  feeds: Feeds | [Feeds, Feeds],
  { batch, threads, runs = DEFAULT_LATENCY_RUNS }: LatencySetting,
): Promise<Latency> {
  const fed = Array.isArray(feeds) ? feeds : [feeds, feeds];
  const files = new Map<string, Uint8Array>([
    ['/model/0', original],
    ['/model/1', candidate],
  ]);
  const described = fed.map((f, m) =>
    Object.fromEntries(
      Object.entries(f).map(([name, tensor]) => {
        const url = `/feed/${m}/${encodeURIComponent(name)}`;
        const data = tensor.data;
        files.set(url, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
        return [name, { type: tensor.type, dims: tensor.dims, url }];
      }),
    ),
  ) as PageRun['feeds'];
  try {
    return await inOrtPage(files, async (page) => {
      const run: PageRun = {
        models: ['/model/0', '/model/1'],
        feeds: described,
        threads: threads ?? 0,
        runs,
        minSeconds: MIN_SECONDS,
        maxRuns: MAX_RUNS,
      };
      const timed = (await page.evaluate(`(${TIME_IN_PAGE})(${JSON.stringify(run)})`)) as {
        times: [number[], number[]];
        threads: number;
      };
      return {
        ...summarizeLatency(timed.times[0], timed.times[1], { batch, threads: timed.threads }),
        runtime: WEB_RUNTIME,
      };
    });
  } catch (error) {
    if (error instanceof IdpruneError) throw error;
    throw new IdpruneError(`onnxruntime-web failed in Chromium: ${(error as Error).message.split('\n')[0]}`);
  }
}

/**
 * Runs `work` on a page of a headless Chromium that has loaded onnxruntime-web (the global `ort`,
 * its files under /ort/) and is served `files` by path, cross-origin isolated; closes both after.
 */
export async function inOrtPage<T>(
  files: ReadonlyMap<string, Uint8Array>,
  work: (page: Page) => Promise<T>,
): Promise<T> {
  const { chromium, ortWeb } = await webPackages();
  const executablePath = process.env.CHROMIUM ?? CHROMIUM_PATHS.find(existsSync);
  if (!executablePath)
    throw new IdpruneError(`--runtime web needs a Chromium (none at ${CHROMIUM_PATHS.join(', ')}; or set CHROMIUM)`);
  const server = await serve(files, ortWeb);
  const browser = await chromium.launch({ executablePath, args: ['--no-sandbox', '--disable-gpu'] });
  try {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    return await work(page);
  } finally {
    await browser.close();
    server.close();
  }
}

/**
 * Runs in the page (a string, so that nothing of this module's build reaches it): both sessions
 * warmed up, then timed in interleaved pairs until each has run `runs` times and half a second.
 */
const TIME_IN_PAGE = `async (run) => {
  const ort = globalThis.ort;
  ort.env.wasm.numThreads = run.threads;
  ort.env.wasm.wasmPaths = '/ort/';
  const arrays = { float32: Float32Array, float64: Float64Array, int64: BigInt64Array, int32: Int32Array,
    uint8: Uint8Array, bool: Uint8Array, float16: Uint16Array };
  const load = async (feeds) => Object.fromEntries(await Promise.all(Object.entries(feeds).map(async ([name, f]) => {
    const bytes = await (await fetch(f.url)).arrayBuffer();
    return [name, new ort.Tensor(f.type, new arrays[f.type](bytes), f.dims)];
  })));
  const sessions = [await ort.InferenceSession.create(run.models[0]), await ort.InferenceSession.create(run.models[1])];
  const feeds = [await load(run.feeds[0]), await load(run.feeds[1])];
  const times = [[], []];
  const start = performance.now();
  for (let m = 0; m < 2; m++) for (let i = 0; i < 3; i++) await sessions[m].run(feeds[m]);
  const pairMs = (performance.now() - start) / 3;
  const pairs = Math.max(run.runs, Math.min(run.maxRuns, Math.ceil((2 * run.minSeconds * 1000) / pairMs)));
  for (let r = 0; r < pairs; r++) {
    for (let m = 0; m < 2; m++) {
      const t = performance.now();
      await sessions[m].run(feeds[m]);
      times[m].push(performance.now() - t);
    }
  }
  await Promise.all(sessions.map((s) => s.release()));
  return { times, threads: ort.env.wasm.numThreads };
}`;

/** A local server for the page, its onnxruntime-web files and what it times, cross-origin isolated. */
function serve(files: ReadonlyMap<string, Uint8Array>, ortWeb: string): Promise<Server> {
  const server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    const headers = {
      'cross-origin-opener-policy': 'same-origin',
      'cross-origin-embedder-policy': 'require-corp',
    };
    const file = path === '/' ? undefined : files.get(path);
    const ortFile = path.startsWith('/ort/') ? join(ortWeb, path.slice('/ort/'.length)) : undefined;
    if (path === '/') {
      response.writeHead(200, { ...headers, 'content-type': TYPES['.html'] });
      response.end('<!doctype html><script src="/ort/ort.wasm.min.js"></script>');
    } else if (file) {
      response.writeHead(200, { ...headers, 'content-type': 'application/octet-stream' });
      response.end(file);
    } else if (ortFile && !ortFile.includes('..') && existsSync(ortFile)) {
      response.writeHead(200, { ...headers, 'content-type': TYPES[path.slice(path.lastIndexOf('.'))] ?? 'text/plain' });
      response.end(readFileSync(ortFile));
    } else {
      response.writeHead(404, headers).end();
    }
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

/** playwright-core and the folder of onnxruntime-web's browser files, or why they are missing. */
async function webPackages(): Promise<{ chromium: typeof import('playwright-core').chromium; ortWeb: string }> {
  const require = createRequire(import.meta.url);
  try {
    const { chromium } = await import('playwright-core');
    // The package exports its Node build, which lies in dist/ beside the browser files.
    const ortWeb = dirname(require.resolve('onnxruntime-web'));
    return { chromium, ortWeb };
  } catch {
    throw new IdpruneError(
      '--runtime web needs the packages playwright-core and onnxruntime-web: ' +
        'npm install playwright-core onnxruntime-web',
    );
  }
}
