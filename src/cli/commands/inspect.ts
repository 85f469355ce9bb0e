import { loadData } from '../../api/data.ts';
import { inputSpecs } from '../../onnx/shapes.ts';
import { summarizeModel } from '../../api/inspect.ts';
import { count, formatSpaces } from '../../report/text.ts';
import { terminalProgress } from '../progress-bar.ts';
import type { ReadOptions } from '../../data/read-options.ts';
import { readModel } from '../../io/files.ts';

export async function inspectCommand(
  path: string,
  options: ReadOptions & { json?: boolean; calib?: string },
): Promise<void> {
  const { model } = readModel(path);
  // Data, where given, sets the sizes the model is probed at (free dimensions, fixed-length windows).
  const inputs = inputSpecs(model);
  const data = options.calib
    ? await loadData(options.calib, inputs, 'calibration data', { ...options, modelPath: path }, terminalProgress())
    : undefined;
  const summary = { model: path, ...(await summarizeModel(model, data)) };
  if (options.json) {
    console.log(JSON.stringify(summary, null, 2));
    return;
  }
  const dims = (d: (number | null)[] | number[] | undefined) => `[${(d ?? []).map((x) => x ?? '?').join(', ')}]`;
  console.log(`model    ${path}`);
  for (const i of summary.inputs) console.log(`input    ${i.name} ${i.type} ${dims(i.dims)}`);
  for (const o of summary.outputs) console.log(`output   ${o.name} ${dims(o.shape)} (for one sample)`);
  for (const b of summary.branches)
    console.log(`branch   ${b}, taken by every sample of the data: analysed and pruned inside it`);
  console.log(`size     ${count(summary.params)} parameters, ${count(summary.flops)} MACs per sample`);
  console.log(
    `spaces   ${summary.spaces.filter((s) => s.prunable).length} of ${summary.spaces.length} prunable, ` +
      `in layers holding ${(100 * summary.prunableFlopsShare).toFixed(1)}% of the FLOPs\n`,
  );
  console.log(formatSpaces(summary.spaces));
}
