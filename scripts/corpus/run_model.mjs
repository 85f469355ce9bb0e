// Runs an original corpus model for scripts/corpus/make_data.py, which needs some models' outputs
// to build other models' inputs the way the shipping packages do (face boxes from fr_detect,
// landmarks from fr_landmark, the VAD state carried from chunk to chunk).
//
//   node scripts/corpus/run_model.mjs each <model.onnx> <inputs.npy> <out folder>
//     one-input model with batch 1: runs every sample alone, writes <output name>.npy per output
//     (samples stacked on a new leading axis, the model's batch axis of 1 dropped).
//   node scripts/corpus/run_model.mjs vad <model.onnx> <chunks.npy> <starts.npy> <out folder>
//     Silero VAD over recordings: chunks [N, 576] (64 context + 512 new samples), starts [N] uint8
//     (1 where a recording begins: state reset to zeros); writes state.npy [N, 2, 128] (the state fed
//     with each chunk) and prob.npy [N] (speech probability).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';

const DTYPES = {
  '<f4': { name: 'float32', Array: Float32Array },
  '<i8': { name: 'int64', Array: BigInt64Array },
  '|u1': { name: 'uint8', Array: Uint8Array },
};

function readNpy(path) {
  const bytes = readFileSync(path);
  const headerLength = bytes.readUInt16LE(8);
  const header = bytes.subarray(10, 10 + headerLength).toString('latin1');
  const descr = /'descr':\s*'([^']+)'/.exec(header)[1];
  const shape = /'shape':\s*\(([^)]*)\)/
    .exec(header)[1]
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map(Number);
  const kind = DTYPES[descr];
  if (!kind || bytes[6] !== 1 || /'fortran_order':\s*True/.test(header))
    throw new Error(`${path}: need a C-order version 1.0 .npy of float32, int64 or uint8`);
  const data = new kind.Array(new Uint8Array(bytes.subarray(10 + headerLength)).buffer);
  return { shape, data };
}

function writeNpy(path, data, shape) {
  const descr = data instanceof Float32Array ? '<f4' : '<i8';
  const dims = `${shape.join(', ')}${shape.length === 1 ? ',' : ''}`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${dims}), }`;
  header += `${' '.repeat(63 - ((10 + header.length) % 64))}\n`;
  const head = Buffer.alloc(10);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]).copy(head);
  head.writeUInt16LE(header.length, 8);
  writeFileSync(
    path,
    Buffer.concat([head, Buffer.from(header, 'latin1'), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]),
  );
}

const perSample = (shape) => shape.slice(1).reduce((a, b) => a * b, 1);

async function runEach(modelPath, inputPath, outFolder) {
  const session = await ort.InferenceSession.create(modelPath, { logSeverityLevel: 3 });
  const input = readNpy(inputPath);
  const count = input.shape[0];
  const size = perSample(input.shape);
  const outputs = new Map();
  for (let i = 0; i < count; i++) {
    const feeds = {
      [session.inputNames[0]]: new ort.Tensor('float32', input.data.slice(i * size, (i + 1) * size), [
        1,
        ...input.shape.slice(1),
      ]),
    };
    const result = await session.run(feeds);
    for (const name of session.outputNames) {
      const t = result[name];
      if (!outputs.has(name))
        outputs.set(name, { dims: t.dims.slice(1), data: new Float32Array(count * t.data.length) });
      outputs.get(name).data.set(t.data, i * t.data.length);
    }
  }
  mkdirSync(outFolder, { recursive: true });
  for (const [name, o] of outputs) writeNpy(join(outFolder, `${name}.npy`), o.data, [count, ...o.dims]);
}

async function runVad(modelPath, chunksPath, startsPath, outFolder) {
  const session = await ort.InferenceSession.create(modelPath, { logSeverityLevel: 3 });
  const chunks = readNpy(chunksPath);
  const starts = readNpy(startsPath);
  const [count, length] = chunks.shape;
  const states = new Float32Array(count * 256);
  const probs = new Float32Array(count);
  const sr = new ort.Tensor('int64', BigInt64Array.from([16000n]), []);
  let state = new Float32Array(256);
  for (let i = 0; i < count; i++) {
    if (starts.data[i]) state = new Float32Array(256);
    states.set(state, i * 256);
    const result = await session.run({
      input: new ort.Tensor('float32', chunks.data.slice(i * length, (i + 1) * length), [1, length]),
      state: new ort.Tensor('float32', state, [2, 1, 128]),
      sr,
    });
    probs[i] = result.output.data[0];
    state = Float32Array.from(result.stateN.data);
  }
  mkdirSync(outFolder, { recursive: true });
  writeNpy(join(outFolder, 'state.npy'), states, [count, 2, 128]);
  writeNpy(join(outFolder, 'prob.npy'), probs, [count]);
}

const [mode, ...args] = process.argv.slice(2);
if (mode === 'each' && args.length === 3) await runEach(...args);
else if (mode === 'vad' && args.length === 4) await runVad(...args);
else {
  console.error(
    'usage: run_model.mjs each <model> <inputs.npy> <out folder> | vad <model> <chunks.npy> <starts.npy> <out folder>',
  );
  process.exit(2);
}
