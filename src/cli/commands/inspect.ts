import { makeDataset } from '../../calibrate/dataset.ts';
import { inputSpecs } from '../../onnx/shapes.ts';
import { analyzeForData } from '../analyze.ts';
import { summarizeSpace } from '../../report/spaces.ts';
import { count, formatSpaces } from '../../report/text.ts';
import { readArrays, readModel } from '../files.ts';

export async function inspectCommand(path: string, options: { json?: boolean; calib?: string }): Promise<void> {
  const { model } = readModel(path);
  // Data, where given, sets the sizes the model is probed at (free dimensions, fixed-length windows).
  const data = options.calib ? makeDataset(readArrays(options.calib, 'calibration data'), inputSpecs(model), options.calib) : undefined;
  const { analysis, branches } = await analyzeForData(model, data);
  const spaces = analysis.spaces.map((s) => summarizeSpace(analysis, s));
  const outputs = model.graph!.output.map((o) => ({ name: o.name, shape: analysis.shapes.get(o.name) }));
  const summary = {
    model: path,
    inputs: analysis.inputs,
    outputs,
    params: analysis.params,
    flops: analysis.flops,
    // Layers whose cost any prunable space scales (a layer between two spaces counts once).
    branches,
    prunableFlopsShare: analysis.cost.flops.filter((t) => t.spaces.length > 0).reduce((a, t) => a + t.value, 0) / analysis.flops,
    spaces,
  };
  if (options.json) {
    console.log(JSON.stringify(summary, null, 2));
    return;
  }
  const dims = (d: (number | null)[] | number[] | undefined) => `[${(d ?? []).map((x) => x ?? '?').join(', ')}]`;
  console.log(`model    ${path}`);
  for (const i of analysis.inputs) console.log(`input    ${i.name} ${i.type} ${dims(i.dims)}`);
  for (const o of outputs) console.log(`output   ${o.name} ${dims(o.shape)} (for one sample)`);
  for (const b of branches) console.log(`branch   ${b}, taken by every sample of the data: analysed and pruned inside it`);
  console.log(`size     ${count(analysis.params)} parameters, ${count(analysis.flops)} MACs per sample`);
  console.log(`spaces   ${spaces.filter((s) => s.prunable).length} of ${spaces.length} prunable, in layers holding ${(100 * summary.prunableFlopsShare).toFixed(1)}% of the FLOPs\n`);
  console.log(formatSpaces(spaces));
}
