import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ModelProto } from 'onnx-buf';
import { makeDataset } from '../src/calibrate/dataset.ts';
import { compressModel } from '../src/compress/pipeline.ts';
import type { CorrectionMode } from '../src/compress/options.ts';
import { selectionMatrix } from '../src/compress/interpolation.ts';
import { applySurgery } from '../src/compress/surgery.ts';
import { analyzeModel } from '../src/graph/analysis.ts';
import type { ChannelSpace } from '../src/graph/types.ts';
import { nodeRuntime } from '../src/onnx/runtime-node.ts';
import { readFloatTensor, readIntTensor } from '../src/onnx/tensor.ts';
import {
  channelsLastTokens,
  concatSlice,
  concatThreeSplit,
  concatTwo,
  convTransposeChain,
  nhwcSandwich,
  residualWithShortcut,
  resizePad,
  squeezeExcitation,
  withIfNode,
} from './helpers/graphs.ts';
import { assertCorrectionHelps, keepEverything } from './helpers/keep.ts';
import { residualBlock, depthwiseSeparable } from './helpers/models.ts';
import { floatData, maxAbsDiff, run } from './helpers/run.ts';

const x = floatData([16, 4, 6, 6], 42);
const calib = floatData([64, 4, 6, 6], 7);
const spacesOf = async (model: ModelProto) => (await analyzeModel(model, nodeRuntime)).spaces;
const producedBy = (spaces: ChannelSpace[], model: ModelProto, name: string) =>
  spaces.find((s) => s.producers.some((p) => model.graph!.node[p].name === name))!;
const placeOf = (space: ChannelSpace, tensor: string) => space.tensors.find((t) => t.name === tensor)?.layout;

const graphs: [string, () => ModelProto][] = [
  ['residual block without a shortcut Conv', residualBlock],
  ['residual block with a shortcut Conv', residualWithShortcut],
  ['two-way Concat', concatTwo],
  ['three-way Concat → Split', () => concatThreeSplit()],
  ['three-way Concat → Split with sizes as an attribute (opset 11)', () => concatThreeSplit('attribute')],
  ['Concat → Slice of one input', () => concatSlice(5)],
  ['Slice cutting through a layer', () => concatSlice(2)],
  ['depthwise separable block', depthwiseSeparable],
  ['squeeze-and-excitation block', squeezeExcitation],
  ['a model with an If node', withIfNode],
  ['NHWC Transpose sandwich', nhwcSandwich],
  ['channels-last Reshape to tokens', channelsLastTokens],
  ['Resize and Pad', resizePad],
  ['ConvTranspose as producer and consumer', convTransposeChain],
];

describe('tiny graphs of real-world architectures', () => {
  for (const [name, build] of graphs) {
    it(`${name}: keeping every channel reproduces the outputs to 1e-5`, async () => {
      const model = build();
      const before = await run(model, 'x', x);
      const after = await run(await keepEverything(model), 'x', x);
      assert.ok(maxAbsDiff(before.data, after.data) < 1e-5);
    });

    for (const mode of ['corrected', 'plain'] as CorrectionMode[]) {
      it(`${name}: compressed (${mode}) to 0.8 of the FLOPs, closer to the original than uncorrected`, async () => {
        const model = build();
        const result = await compressModel(
          model,
          (a) => makeDataset(new Map([['x', calib]]), a.inputs, 'calib'),
          nodeRuntime,
          {
            budget: { kind: 'flops', fraction: 0.8 },
            mode,
            // The plain mode would leave coupled spaces intact: every rule is exercised in both modes.
            keepCoupled: false,
          },
        );
        assert.ok(
          result.outcomes.some((o) => o.kept < o.space.channels),
          'some channels were removed',
        );
        await assertCorrectionHelps(model, result, x);
      });
    }
  }
});

describe('coupled and concatenated spaces', () => {
  it('a residual stream couples the block output with its shortcut Conv, and both keep the same channels', async () => {
    const model = residualWithShortcut();
    const spaces = await spacesOf(model);
    const stream = producedBy(spaces, model, 'conv2');
    assert.equal(stream, producedBy(spaces, model, 'shortcut'));
    assert.ok(stream.prunable);
    const keep = [0, 2, 3, 5, 7];
    const pruned = await applySurgery(model, [
      { space: stream, keep, interpolation: new Map([['r2', selectionMatrix(8, keep)]]) },
    ]);
    for (const w of ['w_conv2', 'w_shortcut']) {
      const original = readFloatTensor(model.graph!.initializer.find((t) => t.name === w)!);
      const sliced = readFloatTensor(pruned.graph!.initializer.find((t) => t.name === w)!);
      const row = original.data.length / 8;
      assert.equal(sliced.dims[0], keep.length);
      keep.forEach((c, i) => {
        assert.deepEqual(
          [...sliced.data.subarray(i * row, (i + 1) * row)],
          [...original.data.subarray(c * row, (c + 1) * row)].map(Math.fround),
        );
      });
    }
    assert.deepEqual((await run(pruned, 'x', x)).dims, [16, 3, 6, 6]);
  });

  it('the plain mode, which cannot correct a residual stream, leaves it intact and prunes the rest', async () => {
    const model = residualWithShortcut();
    const result = await compressModel(
      model,
      (a) => makeDataset(new Map([['x', calib]]), a.inputs, 'calib'),
      nodeRuntime,
      {
        budget: { kind: 'flops', fraction: 0.8 },
        mode: 'plain',
      },
    );
    const stream = result.outcomes.find((o) => o.space.producers.length > 1);
    assert.equal(stream, undefined, 'the stream is not among the pruned spaces');
    const intact = result.analysis.spaces.find((s) => s.producers.length > 1)!;
    assert.match(intact.reason!, /plain mode/);
    assert.ok(result.outcomes.some((o) => o.kept < o.space.channels));
  });

  it('Concat places each input space at its offset of the output channels', async () => {
    const model = concatTwo();
    const spaces = await spacesOf(model);
    assert.deepEqual(placeOf(producedBy(spaces, model, 'a'), 'bn'), { axis: 1, block: 1, offset: 0 });
    assert.deepEqual(placeOf(producedBy(spaces, model, 'b'), 'bn'), { axis: 1, block: 1, offset: 5 });
    assert.ok(producedBy(spaces, model, 'a').prunable && producedBy(spaces, model, 'b').prunable);
  });

  it('pruning both sides of a Concat slices the shared BatchNorm and the reading Conv at both offsets', async () => {
    const model = concatTwo();
    const spaces = await spacesOf(model);
    const a = producedBy(spaces, model, 'a');
    const b = producedBy(spaces, model, 'b');
    const keepA = [1, 3, 4];
    const keepB = [0, 2];
    const pruned = await applySurgery(model, [
      { space: a, keep: keepA, interpolation: new Map([['rc', selectionMatrix(5, keepA)]]) },
      { space: b, keep: keepB, interpolation: new Map([['rc', selectionMatrix(3, keepB)]]) },
    ]);
    const value = (m: ModelProto, name: string) => readFloatTensor(m.graph!.initializer.find((t) => t.name === name)!);
    const channels = [...keepA, ...keepB.map((c) => c + 5)];
    assert.deepEqual(
      [...value(pruned, 'scale').data],
      channels.map((c) => Math.fround(value(model, 'scale').data[c])),
    );
    const head = value(pruned, 'w_head');
    assert.deepEqual(head.dims, [4, 5, 3, 3]);
    assert.deepEqual(
      [...head.data.subarray(9 * 4, 9 * 5)],
      [...value(model, 'w_head').data.subarray(9 * 7, 9 * 8)].map(Math.fround),
    );
    assert.deepEqual((await run(pruned, 'x', x)).dims, [16, 4, 6, 6]);
  });

  it('Split sends each space to the part holding it and shrinks that part', async () => {
    const model = concatThreeSplit();
    const spaces = await spacesOf(model);
    assert.deepEqual(placeOf(producedBy(spaces, model, 'a'), 'first'), { axis: 1, block: 1, offset: 0 });
    assert.deepEqual(placeOf(producedBy(spaces, model, 'c'), 'rest'), { axis: 1, block: 1, offset: 4 });
    const c = producedBy(spaces, model, 'c');
    const pruned = await applySurgery(model, [
      { space: c, keep: [1], interpolation: new Map([['rest', selectionMatrix(2, [1])]]) },
    ]);
    assert.deepEqual(readIntTensor(pruned.graph!.initializer.find((t) => t.name === 'sizes')!), [3, 5]);
    assert.deepEqual((await run(pruned, 'x', x)).dims, [16, 2, 6, 6]);
  });

  it('Split sizes written as an attribute follow the kept channels too', async () => {
    const model = concatThreeSplit('attribute');
    const c = producedBy(await spacesOf(model), model, 'c');
    const pruned = await applySurgery(model, [
      { space: c, keep: [0], interpolation: new Map([['rest', selectionMatrix(2, [0])]]) },
    ]);
    const split = pruned.graph!.node.find((n) => n.name === 'split')!;
    assert.deepEqual(split.attribute.find((a) => a.name === 'split')!.ints.map(Number), [3, 5]);
    assert.deepEqual((await run(pruned, 'x', x)).dims, [16, 2, 6, 6]);
  });

  it('Slice bounds past a pruned space move down with it', async () => {
    const model = concatSlice(5);
    const spaces = await spacesOf(model);
    const a = producedBy(spaces, model, 'a');
    assert.deepEqual(placeOf(producedBy(spaces, model, 'b'), 'part'), { axis: 1, block: 1, offset: 0 });
    const pruned = await applySurgery(model, [
      { space: a, keep: [0, 4], interpolation: new Map([['r', selectionMatrix(5, [0, 4])]]) },
    ]);
    assert.deepEqual(readIntTensor(pruned.graph!.initializer.find((t) => t.name === 'starts')!), [2]);
    const before = await run(model, 'x', x);
    assert.deepEqual((await run(pruned, 'x', x)).dims, before.dims);
  });

  it('a Slice cutting through a layer leaves that space intact with the reason, and the other prunable', async () => {
    const model = concatSlice(2);
    const spaces = await spacesOf(model);
    const a = producedBy(spaces, model, 'a');
    assert.equal(a.prunable, false);
    assert.match(a.reason!, /Slice "slice": Slice cuts through the channels/);
    assert.ok(producedBy(spaces, model, 'b').prunable);
    assert.deepEqual(placeOf(producedBy(spaces, model, 'b'), 'part'), { axis: 1, block: 1, offset: 3 });
  });

  it(
    'squeeze-and-excitation: the gate couples the main path with the excitation Conv, ' +
      'the squeeze is a space of its own',
    async () => {
      const model = squeezeExcitation();
      const spaces = await spacesOf(model);
      assert.equal(producedBy(spaces, model, 'main'), producedBy(spaces, model, 'excite'));
      assert.ok(producedBy(spaces, model, 'main').prunable);
      assert.ok(producedBy(spaces, model, 'squeeze').prunable);
    },
  );

  it('a space read inside an If branch stays intact; the others are pruned', async () => {
    const model = withIfNode();
    const spaces = await spacesOf(model);
    assert.match(producedBy(spaces, model, 'conv2').reason!, /If "choose": no rule for op If/);
    assert.ok(producedBy(spaces, model, 'conv1').prunable);
  });

  it('a Transpose to NHWC moves the channel axis, and a bias on the last axis is sliced with it', async () => {
    const model = nhwcSandwich();
    const spaces = await spacesOf(model);
    const space = producedBy(spaces, model, 'first');
    assert.ok(space.prunable);
    assert.deepEqual(placeOf(space, 'biased'), { axis: 3, block: 1 });
    assert.ok(space.slices.some((s) => model.graph!.node[s.node].name === 'bias_add'));
  });

  it(
    'a Reshape of channels-last activations to tokens ' + 'keeps the channels last and shrinks the explicit count',
    async () => {
      const model = channelsLastTokens();
      const space = producedBy(await spacesOf(model), model, 'first');
      assert.deepEqual(placeOf(space, 'tokens'), { axis: 2, block: 1 });
      const pruned = await applySurgery(model, [
        { space, keep: [1, 2, 6], interpolation: new Map([['pooled', selectionMatrix(8, [1, 2, 6])]]) },
      ]);
      assert.deepEqual(readIntTensor(pruned.graph!.initializer.find((t) => t.name === 'tokens_shape')!), [-1, 36, 3]);
    },
  );
});
