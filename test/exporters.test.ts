import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ModelProto } from 'onnx-buf';
import { makeDataset } from '../src/calibrate/dataset.ts';
import { gramModel } from '../src/calibrate/instrument.ts';
import { compressModel } from '../src/compress/pipeline.ts';
import type { CorrectionMode } from '../src/compress/options.ts';
import { analyzeModel } from '../src/graph/analysis.ts';
import { decodeModel, encodeModel } from '../src/onnx/model.ts';
import { defaultOpset } from '../src/onnx/opset.ts';
import { nodeRuntime } from '../src/onnx/runtime-node.ts';
import { pytorchOpset9Style, tf2onnxStyle, writtenOutActivations } from './helpers/exporters.ts';
import { assertCorrectionHelps, keepEverything } from './helpers/keep.ts';
import { floatData, maxAbsDiff, run } from './helpers/run.ts';

const x = floatData([16, 4, 6, 6], 42);
const calib = floatData([64, 4, 6, 6], 7);

/** Each graph at the oldest and newest opset (and, for op forms that changed, either side of the change). */
const cases: [string, (opset: number) => ModelProto, number, number[]][] = [
  ['PyTorch opset-9 style (BatchNorm, PRelu, Flatten → Gemm with C)', pytorchOpset9Style, 2, [9, 21]],
  ['tf2onnx style (LeakyRelu, Max / Min with constants, Squeeze → Gemm)', tf2onnxStyle, 2, [9, 12, 13, 21]],
  ['activations written out (Clip, x·HardSigmoid, x·Sigmoid)', writtenOutActivations, 3, [9, 10, 11, 21]],
];

describe('op forms of real exporters, at the opsets they occur at', () => {
  for (const [name, build, prunable, opsets] of cases) {
    for (const opset of opsets) {
      describe(`${name}, opset ${opset}`, () => {
        it(`every one of its ${prunable} hidden spaces is prunable`, async () => {
          const { spaces } = await analyzeModel(build(opset), nodeRuntime);
          const hidden = spaces.filter((s) => !s.tensors.some((t) => t.name === 'y'));
          assert.deepEqual(
            hidden.map((s) => s.reason ?? 'prunable'),
            Array(prunable).fill('prunable'),
          );
        });

        it('keeping every channel reproduces the outputs to 1e-5', async () => {
          const model = build(opset);
          assert.ok(
            maxAbsDiff((await run(model, 'x', x)).data, (await run(await keepEverything(model), 'x', x)).data) < 1e-5,
          );
        });

        it("the statistics model loads at the model's own opset", async () => {
          const model = build(opset);
          const { spaces, shapes } = await analyzeModel(model, nodeRuntime);
          const probes = spaces
            .filter((s) => s.prunable)
            .map((s) => ({
              tensor: s.tensors[0].name,
              layout: s.tensors[0].layout,
              channels: s.channels,
              shape: shapes.get(s.tensors[0].name)!,
            }));
          const instrumented = gramModel(model, probes);
          assert.equal(defaultOpset(instrumented), opset);
          await (await nodeRuntime.load(encodeModel(instrumented))).release();
        });

        for (const mode of ['corrected', 'plain'] as CorrectionMode[]) {
          it(`compresses in ${mode} mode into a model of the same opset, closer than without correction`, async () => {
            const model = build(opset);
            const result = await compressModel(
              model,
              (a) => makeDataset(new Map([['x', calib]]), a.inputs, 'calib'),
              nodeRuntime,
              {
                budget: { kind: 'keep', neurons: 0.5 },
                mode,
              },
            );
            assert.equal(result.outcomes.filter((o) => o.kept < o.space.channels).length, prunable);
            assert.equal(defaultOpset(decodeModel(result.bytes)), opset);
            await assertCorrectionHelps(model, result, x);
          });
        }
      });
    }
  }
});
