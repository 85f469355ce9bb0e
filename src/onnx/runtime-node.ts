import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import * as ort from 'onnxruntime-node';
import { IdpruneError } from '../errors.ts';
import type { Feeds, HostTensor, InferenceSession, LoadOptions, Runtime } from './runtime.ts';

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
  async load(model: Uint8Array, options: LoadOptions = {}): Promise<InferenceSession> {
    if (model.byteLength >= COLLECT_BEFORE_BYTES) collectGarbage?.();
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(model, {
        logSeverityLevel: 4,
        graphOptimizationLevel: options.optimization ?? 'all',
        enableCpuMemArena: options.memoryArena ?? true,
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
      release: () => session.release(),
    };
  },
};

function firstLine(err: unknown): string {
  return String((err as Error)?.message ?? err).split('\n')[0];
}
