// Every graph rule, checked by its outputs: in a tiny model where one channel of a space is an
// exact copy of another (all its producer and per-channel parameters copied), a small tolerance
// removes exactly that one channel, and the compressed model computes what the original did.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { clone } from '@bufbuild/protobuf';
import { type ModelProto, ModelProtoSchema } from 'onnx-buf';
import { makeDataset } from '../src/calibrate/dataset.ts';
import { selectionMatrix } from '../src/compress/interpolation.ts';
import { compressModel } from '../src/compress/pipeline.ts';
import { applySurgery } from '../src/compress/surgery.ts';
import { analyzeModel } from '../src/graph/analysis.ts';
import type { ChannelSpace } from '../src/graph/types.ts';
import { indexGraph } from '../src/onnx/graph-index.ts';
import { nodeRuntime } from '../src/onnx/runtime-node.ts';
import { inputSpecs } from '../src/onnx/shapes.ts';
import { readFloatTensor, tensorDims, withFloatData } from '../src/onnx/tensor.ts';
import * as graphs from './helpers/graphs.ts';
import * as models from './helpers/models.ts';
import { floatData, maxAbsDiff, run } from './helpers/run.ts';

/** A copy of the model where channel `to` of the space holds channel `from`'s parameters in every sliced constant. */
function withCopiedChannel(model: ModelProto, space: ChannelSpace, from: number, to: number): ModelProto {
  const copy = clone(ModelProtoSchema, model);
  const index = indexGraph(copy);
  for (const slice of space.slices) {
    const name = index.nodes[slice.node].input[slice.input];
    const at = copy.graph!.initializer.findIndex((t) => t.name === name);
    if (at < 0) continue;
    const tensor = copy.graph!.initializer[at];
    const dims = tensorDims(tensor);
    const values = Float64Array.from(readFloatTensor(tensor).data);
    if (dims.length === 0 || dims[slice.axis] === 1) continue; // broadcast along the channels
    const outer = dims.slice(0, slice.axis).reduce((a, b) => a * b, 1);
    const size = dims[slice.axis];
    const inner = dims.slice(slice.axis + 1).reduce((a, b) => a * b, 1);
    const offset = slice.offset ?? 0;
    for (let o = 0; o < outer; o++) {
      for (let e = 0; e < slice.block; e++) {
        for (let i = 0; i < inner; i++) {
          const source = (o * size + offset + from * slice.block + e) * inner + i;
          const target = (o * size + offset + to * slice.block + e) * inner + i;
          values[target] = values[source];
        }
      }
    }
    copy.graph!.initializer[at] = withFloatData(tensor, dims, values);
  }
  return copy;
}

const SAMPLES = 96;
const BUILDERS: [string, () => ModelProto][] = [
  ['Conv → BatchNormalization → Relu → Conv', () => models.convBnReluConv()],
  ['Conv → Relu → Flatten → Gemm', () => models.convReluFlattenGemm(1)],
  ['MatMul → Add → Relu → MatMul', () => models.matmulAddReluMatmul()],
  ['Gemm chain (transB 0)', () => models.gemmChain(0)],
  ['depthwise separable Conv', () => models.depthwiseSeparable()],
  ['residual block', () => models.residualBlock()],
  ['residual stream with a shortcut Conv', () => graphs.residualWithShortcut()],
  ['Concat of two spaces', () => graphs.concatTwo()],
  ['Concat then Split', () => graphs.concatThreeSplit()],
  ['squeeze-and-excitation', () => graphs.squeezeExcitation()],
  ['channels-last sandwich (Transpose)', () => graphs.nhwcSandwich()],
  ['Resize and Pad', () => graphs.resizePad()],
  ['ConvTranspose chain', () => graphs.convTransposeChain()],
];

/** SAMPLES random inputs of the model's input shape. */
function calibrationFor(model: ModelProto, seed: number) {
  const dims = inputSpecs(model)[0].dims.map((d) => d ?? SAMPLES);
  return floatData([SAMPLES, ...dims.slice(1)], seed);
}

async function keptCounts(model: ModelProto, data: ReturnType<typeof floatData>) {
  const result = await compressModel(
    model,
    ({ inputs }) => makeDataset(new Map([['x', data]]), inputs, 'calib'),
    nodeRuntime,
    {
      budget: { kind: 'tolerance', error: 1e-4 },
      roundTo: 1,
      mode: 'plain',
      keepCoupled: false,
      allocation: 'estimated',
    },
  );
  return { result, kept: new Map(result.outcomes.map((o) => [o.space.id, o.kept])) };
}

describe('a channel that copies another is removed, and nothing changes', () => {
  for (const [name, build] of BUILDERS) {
    it(name, async () => {
      const original = build();
      const data = calibrationFor(original, 11);
      const analysis = await analyzeModel(original, nodeRuntime);
      const baseline = await keptCounts(original, data);
      const candidates = analysis.spaces.filter(
        (s) => s.prunable && s.unit === 1 && s.channels >= 3 && baseline.kept.get(s.id) === s.channels,
      );
      assert.ok(candidates.length > 0, 'a prunable space that the tolerance keeps whole');
      for (const space of candidates) {
        const duplicated = withCopiedChannel(original, space, 0, space.channels - 1);
        const { result, kept } = await keptCounts(duplicated, data);
        for (const s of analysis.spaces.filter((s) => s.prunable)) {
          assert.equal(
            kept.get(s.id),
            baseline.kept.get(s.id)! - (s.id === space.id ? 1 : 0),
            `space ${s.id} (channel copied in space ${space.id})`,
          );
        }
        const before = await run(duplicated, 'x', data);
        const after = await run(result.model, 'x', data);
        const scale = Math.max(...before.data.map(Math.abs));
        const worst = maxAbsDiff(after.data, before.data);
        assert.ok(worst <= 1e-5 * Math.max(1, scale), `space ${space.id}: outputs moved by ${worst} (scale ${scale})`);
      }
    });
  }
});

/** ‖y′ − y‖ / ‖y‖ of a model's first output against the original's, on the data. */
async function outputError(
  original: ModelProto,
  candidate: ModelProto,
  data: ReturnType<typeof floatData>,
): Promise<number> {
  const [y, z] = [await run(original, 'x', data), await run(candidate, 'x', data)];
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < y.data.length; i++) {
    diff += (z.data[i] - y.data[i]) ** 2;
    norm += y.data[i] ** 2;
  }
  return Math.sqrt(diff / norm);
}

describe(
  'on a real cut (0.7 FLOPs), on the calibration data, ' +
    'the output error orders corrected ≤ plain ≤ ' +
    'no correction',
  () => {
    for (const [name, build] of BUILDERS) {
      it(name, async () => {
        const original = build();
        const data = calibrationFor(original, 12);
        const compress = (mode: 'corrected' | 'plain') =>
          compressModel(original, ({ inputs }) => makeDataset(new Map([['x', data]]), inputs, 'calib'), nodeRuntime, {
            budget: { kind: 'flops', fraction: 0.7 },
            roundTo: 1,
            mode,
            keepCoupled: false,
            allocation: 'estimated',
          });
        const corrected = await compress('corrected');
        const plain = await compress('plain');
        // The same channels, dropped with no interpolation.
        const pruned = plain.outcomes.filter((o) => o.kept < o.space.channels);
        assert.deepEqual(
          corrected.outcomes.map((o) => o.keep),
          plain.outcomes.map((o) => o.keep),
          'the same channels in both modes',
        );
        const dropped = await applySurgery(
          original,
          pruned.map((o) => {
            const t = selectionMatrix(o.space.channels, o.keep);
            return { space: o.space, keep: o.keep, interpolation: new Map(o.space.consumers.map((c) => [c.reads, t])) };
          }),
        );
        const errors = {
          corrected: await outputError(original, corrected.model, data),
          plain: await outputError(original, plain.model, data),
          none: await outputError(original, dropped, data),
        };
        assert.ok(errors.corrected <= errors.plain * 1.0001 && errors.plain <= errors.none, JSON.stringify(errors));
      });
    }
  },
);
