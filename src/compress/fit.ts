import type { ModelProto } from 'onnx-buf';
import { batchSizeFor } from '../calibrate/dataset.ts';
import { CrossGramPasses } from '../calibrate/gram-passes.ts';
import type { Analysis } from '../graph/analysis.ts';
import type { ChannelSpace } from '../graph/types.ts';
import { identity } from '../linalg/matrix.ts';
import type { MatrixProducts } from '../linalg/products.ts';
import { indexGraph } from '../onnx/graph-index.ts';
import { type Choices, correctionBatchSize, fitLevels, refittedWeights, type StrengthStarts } from './correction.ts';
import type { Decisions } from './decide.ts';
import type { Prepared, Timer } from './prepare.ts';
import { replaceWeights } from './surgery.ts';
import { neuronCount } from './units.ts';

/**
 * The corrected mode: the consumers of the pruned network (`surgered`, holding the plain
 * interpolations) refitted level by level against the original network (see correction.ts), each
 * replacing its weight as a whole. Returns the refitted network and the passes over the data it took.
 */
export async function refit(
  prepared: Prepared,
  decisions: Decisions,
  surgered: ModelProto,
  products: MatrixProducts,
  timed: Timer,
): Promise<{ model: ModelProto; passes: number }> {
  const { model, analysis, dataset, pass, rowMask } = prepared;
  const choices = choicesOf(decisions);
  const toPrune = decisions.pruned.map((d) => d.space);
  // Spaces left whole but downstream of pruned ones receive error too: their consumers are refitted as well.
  const intact = deviatedIntactSpaces(analysis, toPrune);
  const levels = fitLevels(analysis, [...toPrune, ...intact], choices, dataset.count, rowMask);
  // A model with a fixed batch size keeps it.
  const batchSize = batchSizeFor(analysis.inputs, correctionBatchSize(levels, pass.batchSize));
  const correction = new CrossGramPasses(model, { ...pass, batchSize });
  const strengthStarts: StrengthStarts = new Map();
  let output = surgered;
  for (let l = 0; l < levels.length; l++) {
    const current = output;
    const label = `correction ${l + 1}/${levels.length}`;
    const last = l === levels.length - 1;
    const probes = levels[l].map((f) => f.probe);
    const stats = await timed('correction', () => correction.next(current, probes, { label, last }));
    const weights = await timed('interpolation', () =>
      refittedWeights(analysis, levels[l], stats, choices, indexGraph(current), products, strengthStarts),
    );
    output = await timed('surgery', () => replaceWeights(current, weights));
    correction.weightsChanged(weights.flatMap((w) => current.graph!.node[w.node].output));
  }
  return { model: output, passes: levels.length };
}

/** The decisions as the refits read them. */
function choicesOf(decisions: Decisions): Choices {
  const pruned = new Map(decisions.pruned.map((d) => [d.space, d]));
  const writers = new Map(decisions.pruned.flatMap((d) => d.space.producers.map((p) => [p, d] as const)));
  return {
    keepOf: (space) => pruned.get(space)?.keep ?? Array.from({ length: space.channels }, (_, c) => c),
    outputKeep: (node) => writers.get(node),
    // What a refit is drawn toward where data is scarce: the plain interpolation, the identity for spaces kept whole.
    plainInterpolation: (space, tensor) => pruned.get(space)?.interpolation.get(tensor) ?? identity(neuronCount(space)),
  };
}

/**
 * Spaces left whole (by the allocation, or unprunable: a residual stream under LayerNorm) whose
 * tensors nevertheless deviate from the original network because something upstream was pruned:
 * their consumers are refitted too (all channels kept), so that a layer whose own input keeps every
 * channel still makes up for the error it receives. (Measured: ResNet with its streams intact at
 * 0.5 FLOPs 93.90 → 94.42%, the GPT with a quarter of its heads removed 85.65 → 86.04% per token.)
 */
function deviatedIntactSpaces(analysis: Analysis, pruned: readonly ChannelSpace[]): ChannelSpace[] {
  const { index } = analysis;
  const deviated = new Set<string>();
  const seeds = new Set(pruned.flatMap((s) => s.consumers.map((c) => c.node)));
  index.nodes.forEach((node, i) => {
    if (seeds.has(i) || node.input.some((t) => deviated.has(t))) for (const out of node.output) deviated.add(out);
  });
  const prunedIds = new Set(pruned.map((s) => s.id));
  return analysis.spaces.filter((s) => !prunedIds.has(s.id) && s.consumers.some((c) => deviated.has(c.reads)));
}
