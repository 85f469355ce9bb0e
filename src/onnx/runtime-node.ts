import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import * as ort from 'onnxruntime-node';
import { IdpruneError } from '../errors.ts';
import type { Feeds, HostTensor, InferenceSession, KernelTime, LoadOptions, RunProfile, Runtime } from './runtime.ts';

// ONNX Runtime's own log lines would reach the user's terminal ahead of the one-line error that
// explains the same failure.
ort.env.logLevel = 'fatal';

/** V8's collector: exposed by its flag, which applies to contexts made after it is set. */
function garbageCollector(): (() => void) | undefined {
  setFlagsFromString('--expose-gc');
  const gc: unknown = runInNewContext('typeof gc === "function" ? gc : undefined');
  return typeof gc === 'function' ? (gc as () => void) : undefined;
}

const collectGarbage = garbageCollector();

/**
 * Models from this size on are loaded after a garbage collection: the encoded copies of earlier
 * models are then no longer held while ONNX Runtime makes its own (BERT-base-sized encoder, peak
 * 3.00 → 2.74 GB). Smaller ones are not worth a collection each.
 */
const COLLECT_BEFORE_BYTES = 16 * 2 ** 20;

/** ONNX Runtime for Node.js (native CPU). */
export const nodeRuntime: Runtime = {
  defaultThreads: availableParallelism(),
  load: (model, options = {}) => loadSession(model, options),
  async profile(model, feeds, { warmUp, runs }, options = {}) {
    // The profiler writes its trace to a file named by ONNX Runtime: a folder of our own holds it.
    const folder = await mkdtemp(join(tmpdir(), 'idprune-profile-'));
    try {
      const session = await loadSession(model, options, join(folder, 'trace'));
      try {
        for (let r = 0; r < warmUp + runs; r++) await session.run(feeds);
      } finally {
        await session.release();
      }
      const [trace] = await readdir(folder);
      if (!trace) throw new IdpruneError('ONNX Runtime wrote no profile');
      return profiledRuns(JSON.parse(await readFile(join(folder, trace), 'utf8'))).slice(warmUp);
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  },
};

async function loadSession(
  model: Uint8Array,
  options: LoadOptions,
  profileFilePrefix?: string,
): Promise<InferenceSession & { release(): Promise<void> }> {
  if (model.byteLength >= COLLECT_BEFORE_BYTES) collectGarbage?.();
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(model, {
      logSeverityLevel: 4,
      graphOptimizationLevel: options.optimization ?? 'all',
      enableCpuMemArena: options.memoryArena ?? true,
      ...(options.threads !== undefined && { intraOpNumThreads: options.threads }),
      ...(options.spinning === false && { extra: { session: { intra_op: { allow_spinning: '0' } } } }),
      ...(profileFilePrefix !== undefined && { enableProfiling: true, profileFilePrefix }),
    });
  } catch (err) {
    throw new IdpruneError(`ONNX Runtime cannot load the model: ${firstLine(err)}`);
  }
  return {
    inputNames: session.inputNames,
    outputNames: session.outputNames,
    async run(feeds: Feeds, outputNames?: readonly string[]) {
      const ortFeeds: Record<string, ort.Tensor> = {};
      for (const [name, t] of Object.entries(feeds)) ortFeeds[name] = new ort.Tensor(t.type, t.data as never, t.dims);
      let result: ort.InferenceSession.ReturnType;
      try {
        // Always fetch every output: onnxruntime-node 1.23 labels a requested subset of outputs
        // with the names of the first outputs, whatever was asked for.
        result = await session.run(ortFeeds);
      } catch (err) {
        throw new IdpruneError(`ONNX Runtime failed to run the model: ${firstLine(err)}`);
      }
      const out: Record<string, HostTensor> = {};
      for (const [name, t] of Object.entries(result)) {
        if (outputNames && !outputNames.includes(name)) continue;
        out[name] = { type: t.type as HostTensor['type'], dims: [...t.dims], data: t.data as HostTensor['data'] };
      }
      return out;
    },
    async release() {
      // The trace is written when profiling ends.
      if (profileFilePrefix !== undefined) session.endProfiling();
      await session.release();
    },
  };
}

interface TraceEvent {
  cat?: string;
  name?: string;
  ts?: number;
  dur?: number;
  args?: { op_name?: string };
}

/** ONNX Runtime's trace (Chrome trace events) as runs, each with the kernels that ran within it. */
export function profiledRuns(events: TraceEvent[]): RunProfile[] {
  const runs = events
    .filter((e) => e.cat === 'Session' && e.name === 'model_run')
    .map((e) => ({ start: e.ts ?? 0, end: (e.ts ?? 0) + (e.dur ?? 0), kernels: [] as KernelTime[] }))
    .sort((a, b) => a.start - b.start);
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name?.endsWith('_kernel_time')) continue;
    const run = runs.find((r) => (e.ts ?? 0) >= r.start && (e.ts ?? 0) <= r.end);
    run?.kernels.push({
      name: e.name.slice(0, -'_kernel_time'.length),
      op: e.args?.op_name ?? '',
      microseconds: e.dur ?? 0,
    });
  }
  return runs.map((r) => ({ microseconds: r.end - r.start, kernels: r.kernels }));
}

function firstLine(err: unknown): string {
  return String((err as Error)?.message ?? err).split('\n')[0];
}
