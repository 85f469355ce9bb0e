import { clone } from '@bufbuild/protobuf';
import { type GraphProto, type ModelProto, ModelProtoSchema, type NodeProto, NodeProtoSchema } from 'onnx-buf';
import { attribute, hasSubgraphs, nodesNeededFor } from '../onnx/graph-index.ts';
import { encodeModel } from '../onnx/model.ts';
import type { Runtime } from '../onnx/runtime.ts';
import { makeNode } from '../onnx/build.ts';
import { batches, batchSizeFor, type Dataset } from './dataset.ts';
import { exposeTensors } from './instrument.ts';

/**
 * Exporters often wrap a whole network in an If on an input (Silero VAD: one branch per sample
 * rate). Where every calibration sample takes the same branch, that branch is inlined so the
 * analysis sees its layers; after compression `restore` puts the edited branch back, the other
 * branch untouched, so the model still runs on every input it ran on before.
 */
export interface InlinedBranches {
  model: ModelProto;
  /** One line per inlined If: its name and the branch taken. */
  taken: string[];
  restore(flat: ModelProto): ModelProto;
}

interface Inlining {
  /** Position of the If in the graph it was inlined into, and the branch's node count. */
  at: number;
  length: number;
  node: NodeProto;
  branch: 'then_branch' | 'else_branch';
}

/** Inlines, one level at a time, every top-level If whose condition the calibration data fixes. */
export async function inlineFixedBranches(
  model: ModelProto,
  dataset: Dataset,
  runtime: Runtime,
): Promise<InlinedBranches | undefined> {
  const steps: Inlining[] = [];
  const taken: string[] = [];
  let current = model;
  for (;;) {
    const ifs = current
      .graph!.node.map((node, i) => ({ node, i }))
      .filter(({ node }) => node.opType === 'If' && node.domain === '');
    if (ifs.length === 0) break;
    const conditions = await conditionValues(
      current,
      ifs.map(({ node }) => node.input[0]),
      dataset,
      runtime,
    );
    const fixed = ifs.find(({ node }) => conditions.get(node.input[0]) !== undefined);
    if (!fixed) break;
    const branch = conditions.get(fixed.node.input[0]) ? 'then_branch' : 'else_branch';
    const { flat, length } = inlineBranch(current, fixed.i, branch);
    steps.push({ at: fixed.i, length, node: fixed.node, branch });
    taken.push(`If "${fixed.node.name || fixed.node.output[0]}": ${branch === 'then_branch' ? 'then' : 'else'} branch`);
    current = flat;
  }
  if (steps.length === 0) return undefined;
  return {
    model: current,
    taken,
    restore: (flat) => steps.reduceRight((m, step) => restoreBranch(m, step), flat),
  };
}

/**
 * The value of each condition when it is the same on every calibration sample; absent where it varies or cannot be
 * computed alone.
 */
async function conditionValues(
  model: ModelProto,
  conditions: string[],
  dataset: Dataset,
  runtime: Runtime,
): Promise<Map<string, boolean>> {
  const probe = conditionModel(model, conditions);
  const values = new Map<string, boolean>();
  if (!probe) return values;
  const session = await runtime.load(encodeModel(probe), { optimization: 'basic' });
  const seen = new Map<string, Set<boolean>>(conditions.map((c) => [c, new Set()]));
  try {
    for (const feeds of batches(dataset, dataset.inputs, batchSizeFor(dataset.inputs, 256))) {
      const out = await session.run(feeds);
      for (const c of conditions) for (const v of out[c].data as Uint8Array) seen.get(c)!.add(v !== 0);
    }
  } finally {
    await session.release();
  }
  for (const [c, set] of seen) if (set.size === 1) values.set(c, [...set][0]);
  return values;
}

/** A copy of the model computing only the conditions: undefined where that needs a subgraph (a nested If). */
function conditionModel(model: ModelProto, conditions: string[]): ModelProto | undefined {
  const { nodes: needed } = nodesNeededFor(model.graph!.node, conditions);
  if (model.graph!.node.some((node, i) => needed[i] && hasSubgraphs(node))) return undefined;
  return exposeTensors(model, conditions);
}

/**
 * The model with the If at `at` replaced by the nodes of `branch`, its outputs renamed through
 * Identity nodes to the If's outputs; the branch's own initializers join the graph's.
 */
function inlineBranch(model: ModelProto, at: number, branch: Inlining['branch']): { flat: ModelProto; length: number } {
  const flat = clone(ModelProtoSchema, model);
  const graph = flat.graph!;
  const node = graph.node[at];
  const body = attribute(node, branch)!.g!;
  const renames = body.output.map((out, i) => makeNode('Identity', [out.name], [node.output[i]]));
  graph.node.splice(at, 1, ...body.node, ...renames);
  graph.initializer.push(...body.initializer);
  return { flat, length: body.node.length };
}

/**
 * Puts the (edited) branch nodes back into the If; every initializer stays in the outer graph, where the branch reads
 * it.
 */
function restoreBranch(flat: ModelProto, step: Inlining): ModelProto {
  const model = clone(ModelProtoSchema, flat);
  const graph = model.graph!;
  const node = clone(NodeProtoSchema, step.node);
  const body: GraphProto = attribute(node, step.branch)!.g!;
  const inlined = graph.node.splice(step.at, step.length + body.output.length, node);
  body.node = inlined.slice(0, step.length);
  body.initializer = [];
  return model;
}
