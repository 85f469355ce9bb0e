import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { batches, batchSizeFor, makeDataset, usableCount } from '../src/calibrate/dataset.ts';
import { type NdArray, parseNpy, toNpy } from '../src/data/npy.ts';
import { parseNpz } from '../src/data/npz.ts';
import { IdpruneError } from '../src/errors.ts';
import { floatToHalf } from '../src/onnx/float16.ts';
import type { InputSpec } from '../src/onnx/shapes.ts';
import { zip } from './helpers/zip.ts';

const image: InputSpec = { name: 'x', type: 'float32', dims: [null, 2, 3] };
const tokens: InputSpec = { name: 'ids', type: 'int64', dims: [null, null] };

function array(dtype: NdArray['dtype'], shape: number[], values: number[]): NdArray {
  const data = {
    float32: () => Float32Array.from(values),
    float64: () => Float64Array.from(values),
    float16: () => Uint16Array.from(values, floatToHalf),
    uint8: () => Uint8Array.from(values),
    bool: () => Uint8Array.from(values),
    int64: () => BigInt64Array.from(values, BigInt),
    int32: () => Int32Array.from(values),
  }[dtype]();
  return { dtype, shape, data };
}

const rangeOf = (n: number) => Array.from({ length: n }, (_, i) => i);

describe('.npy files', () => {
  for (const dtype of ['float32', 'float64', 'float16', 'uint8', 'int64', 'int32'] as const) {
    it(`round-trip ${dtype}`, () => {
      const original = array(dtype, [2, 3], [1, 2, 3, 4, 5, 6]);
      const parsed = parseNpy(toNpy(original), 'a.npy');
      assert.equal(parsed.dtype, dtype);
      assert.deepEqual(parsed.shape, [2, 3]);
      assert.deepEqual([...parsed.data], [...original.data]);
    });
  }

  it('are read at an unaligned offset', () => {
    const bytes = toNpy(array('float32', [3], [1.5, 2.5, 3.5]));
    const shifted = new Uint8Array(bytes.length + 1);
    shifted.set(bytes, 1);
    assert.deepEqual([...parseNpy(shifted.subarray(1), 'a.npy').data], [1.5, 2.5, 3.5]);
  });

  it('refuse Fortran order', () => {
    const bytes = new TextDecoder('latin1')
      .decode(toNpy(array('float32', [2, 2], [1, 2, 3, 4])))
      .replace("'fortran_order': False", "'fortran_order': True ");
    assert.throws(
      () =>
        parseNpy(
          Uint8Array.from(bytes, (c) => c.charCodeAt(0)),
          'f.npy',
        ),
      /Fortran order/,
    );
  });

  it('refuse a file that is not .npy', () => {
    assert.throws(() => parseNpy(new TextEncoder().encode('hello world, not numpy'), 'x.npy'), /not a .npy file/);
  });

  it('refuse a truncated file', () => {
    const bytes = toNpy(array('float32', [4, 4], rangeOf(16)));
    assert.throws(() => parseNpy(bytes.subarray(0, bytes.length - 8), 't.npy'), /truncated/);
  });
});

describe('.npz archives', () => {
  for (const deflate of [false, true]) {
    it(`hold one array per input (${deflate ? 'deflated' : 'stored'})`, () => {
      const archive = zip(
        {
          'ids.npy': toNpy(array('int64', [2, 4], rangeOf(8))),
          'mask.npy': toNpy(array('int64', [2, 4], [1, 1, 1, 0, 1, 1, 0, 0])),
        },
        deflate,
      );
      const arrays = parseNpz(archive, 'd.npz');
      assert.deepEqual([...arrays.keys()], ['ids', 'mask']);
      assert.deepEqual([...arrays.get('mask')!.data].map(Number), [1, 1, 1, 0, 1, 1, 0, 0]);
    });
  }
});

describe('datasets', () => {
  it('feed a one-input model from a single array of any name', () => {
    const data = makeDataset(new Map([['calib', array('float32', [5, 2, 3], rangeOf(30))]]), [image], 'c.npy');
    assert.equal(data.count, 5);
  });

  it('convert uint8 and float16 data to the model input type', () => {
    for (const dtype of ['uint8', 'float16'] as const) {
      const data = makeDataset(new Map([['x', array(dtype, [2, 2, 3], rangeOf(12))]]), [image], 'c.npy');
      const [feeds] = [...batches(data, [image], 2)];
      assert.equal(feeds.x.type, 'float32');
      assert.deepEqual([...feeds.x.data], rangeOf(12));
    }
  });

  it('split samples into batches, the last one smaller', () => {
    const data = makeDataset(new Map([['x', array('float32', [5, 2, 3], rangeOf(30))]]), [image], 'c.npy');
    assert.deepEqual(
      [...batches(data, [image], 2)].map((f) => f.x.dims[0]),
      [2, 2, 1],
    );
  });

  it('use the fixed batch size of a model and leave out an incomplete last batch', () => {
    const fixed: InputSpec = { ...image, dims: [2, 2, 3] };
    const data = makeDataset(new Map([['x', array('float32', [5, 2, 3], rangeOf(30))]]), [fixed], 'c.npy');
    assert.equal(batchSizeFor([fixed], 64), 2);
    assert.equal(usableCount(data, [fixed], 2), 4);
    assert.equal(batchSizeFor([{ ...image, dims: [1, 2, 3] }], 64), 1);
  });

  it('reject data of the wrong shape, naming input and shapes', () => {
    const wrong = new Map([['x', array('float32', [5, 3, 2], rangeOf(30))]]);
    assert.throws(
      () => makeDataset(wrong, [image], 'c.npy'),
      (e: Error) => e instanceof IdpruneError && /\[5, 3, 2\].*\[\?, 2, 3\]/.test(e.message),
    );
  });

  it('reject data of the wrong type', () => {
    const wrong = new Map([['x', array('int64', [1, 2, 3], rangeOf(6))]]);
    assert.throws(() => makeDataset(wrong, [image], 'c.npy'), /type int64, but the model expects float32/);
    const floats = new Map([['ids', array('float32', [1, 4], rangeOf(4))]]);
    assert.throws(() => makeDataset(floats, [tokens], 'c.npy'), /type float32, but the model expects int64/);
  });

  it('reject NaN and infinity, naming the sample', () => {
    const values = rangeOf(12);
    values[8] = NaN;
    assert.throws(
      () => makeDataset(new Map([['x', array('float32', [2, 2, 3], values)]]), [image], 'c.npy'),
      /NaN \(sample 1\)/,
    );
    values[8] = Infinity;
    assert.throws(
      () => makeDataset(new Map([['x', array('float64', [2, 2, 3], values)]]), [image], 'c.npy'),
      /infinity/,
    );
  });

  it('reject a missing input array', () => {
    const mask: InputSpec = { name: 'mask', type: 'int64', dims: [null, null] };
    const arrays = new Map([
      ['ids', array('int64', [1, 4], rangeOf(4))],
      ['other', array('int64', [1, 4], rangeOf(4))],
    ]);
    assert.throws(() => makeDataset(arrays, [tokens, mask], 'd.npz'), /no array for model input "mask"/);
  });

  it('reject inputs with different sample counts', () => {
    const mask: InputSpec = { name: 'mask', type: 'int64', dims: [null, null] };
    const arrays = new Map([
      ['ids', array('int64', [2, 2], rangeOf(4))],
      ['mask', array('int64', [1, 4], rangeOf(4))],
    ]);
    assert.throws(() => makeDataset(arrays, [tokens, mask], 'd.npz'), /different sample counts/);
  });
});

describe('inputs whose samples are not on the first axis', () => {
  const audio: InputSpec = { name: 'input', type: 'float32', dims: [null, null] };
  const state: InputSpec = { name: 'state', type: 'float32', dims: [2, null, 3] };
  const rate: InputSpec = { name: 'sr', type: 'int64', dims: [] };
  const inputs = [audio, state, rate];
  const arrays = (rates: NdArray) =>
    new Map([
      ['input', array('float32', [4, 5], rangeOf(20))],
      ['state', array('float32', [4, 2, 3], rangeOf(24))],
      ['sr', rates],
    ]);

  it('a recurrent state [layers, batch, width] is given samples first and fed with them on its batch axis', () => {
    const dataset = makeDataset(arrays(array('int64', [], [16000])), inputs, 'vad.npz');
    assert.equal(batchSizeFor(inputs, 64), 64, "the state's fixed first axis is no fixed batch size");
    const [feeds] = [...batches(dataset, inputs, 2)];
    assert.deepEqual(feeds.state.dims, [2, 2, 3]);
    // state[layer, sample, unit] = data[sample, layer, unit]
    assert.deepEqual([...(feeds.state.data as Float32Array)], [0, 1, 2, 6, 7, 8, 3, 4, 5, 9, 10, 11]);
    assert.deepEqual(feeds.input.dims, [2, 5]);
  });

  it('a scalar input takes one value for every sample, given once or per sample', () => {
    for (const rates of [array('int64', [], [16000]), array('int64', [4], [16000, 16000, 16000, 16000])]) {
      const [feeds] = [...batches(makeDataset(arrays(rates), inputs, 'vad.npz'), inputs, 2)];
      assert.deepEqual(feeds.sr.dims, []);
      assert.deepEqual([...(feeds.sr.data as BigInt64Array)], [16000n]);
    }
  });

  it('refuses a scalar input whose values differ between samples', () => {
    assert.throws(
      () => makeDataset(arrays(array('int64', [4], [16000, 8000, 16000, 16000])), inputs, 'vad.npz'),
      /scalar input .* differ/,
    );
  });
});
