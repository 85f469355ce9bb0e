import type { ConsumerProbe } from '../calibrate/instrument.ts';
import type { CrossGrams } from '../calibrate/statistics.ts';
import type { Analysis } from '../graph/analysis.ts';
import type { ChannelSpace, Consumer } from '../graph/types.ts';
import { type Matrix, transpose } from '../linalg/matrix.ts';
import { solveSymmetric } from '../linalg/solve.ts';
import { type FloatArray, tensorDims } from '../onnx/tensor.ts';
import type { SpaceDecision } from './surgery.ts';

/*
 * Error correction: each consumer of a space is fitted on the network pruned so far, against the
 * original network on the same samples. A Conv consumer is refitted over the receptive-field
 * features of the kept channels to reproduce the original layer's output (and, at a residual
 * block's end, to make up for the other operand's deviation); a Gemm or MatMul consumer gets a
 * channel interpolation T = argmin ‖O − P[:, keep] · T‖.
 */

/** Small relative ridge of the fits: guards rank deficiency, costs no accuracy. */
const RIDGE = 1e-6;

const CONV_GEOMETRY = new Set(['strides', 'pads', 'dilations', 'auto_pad']);

/**
 * Rows of receptive-field statistics wanted per feature. Beyond this, output positions are sampled
 * on a grid: high-resolution layers would otherwise dominate the time. (On the VGG and ResNet
 * fixtures, sampling down to 100 rows per feature cost 0.1–0.3 points of agreement.)
 */
const ROWS_PER_FEATURE = 1000;

export interface ConsumerFit {
  space: ChannelSpace;
  consumer: Consumer;
  probe: ConsumerProbe;
}

/** What each consumer of the given spaces reads, as input features of its own. */
export function consumerFits(analysis: Analysis, spaces: readonly ChannelSpace[], keepOf: (s: ChannelSpace) => number[], samples: number): ConsumerFit[] {
  return spaces.flatMap((space) =>
    space.consumers.map((consumer) => ({ space, consumer, probe: consumerProbe(analysis, space, consumer, keepOf(space), samples) })),
  );
}

/** Decisions for the spaces of `fits`, from the statistics of one correction pass. */
export function correctedDecisions(fits: readonly ConsumerFit[], stats: CrossGrams, keepOf: (s: ChannelSpace) => number[]): SpaceDecision[] {
  const decisions = new Map<ChannelSpace, SpaceDecision>();
  fits.forEach(({ space, consumer, probe }, i) => {
    let decision = decisions.get(space);
    if (!decision) {
      decision = { space, keep: keepOf(space), interpolation: new Map<string, Matrix>(), refits: new Map<number, FloatArray>() };
      decisions.set(space, decision);
    }
    const solved = solveSymmetric(stats.pruned[i], stats.target[i], RIDGE);
    if (probe.conv) {
      const [outputs, , ...kernel] = tensorDims(probe.conv.weight);
      decision.refits!.set(consumer.node, { dims: [outputs, decision.keep.length, ...kernel], data: transpose(solved).data });
    } else {
      decision.interpolation.set(consumer.reads, solved);
    }
  });
  return [...decisions.values()];
}

function consumerProbe(analysis: Analysis, space: ChannelSpace, consumer: Consumer, keep: number[], samples: number): ConsumerProbe {
  const node = analysis.index.nodes[consumer.node];
  const layout = space.tensors.find((t) => t.name === consumer.reads)!.layout;
  const probe: ConsumerProbe = { tensor: consumer.reads, layout, channels: space.channels, keep };
  if (node.opType !== 'Conv') return probe;
  const weight = analysis.index.constants.get(node.input[consumer.weight.input])!;
  const kernel = tensorDims(weight).slice(2);
  const spatial = analysis.shapes.get(node.output[0])!.slice(2);
  const features = space.channels * kernel.reduce((a, b) => a * b, 1);
  const positions = spatial.reduce((a, b) => a * b, 1);
  const step = Math.max(1, Math.floor(((samples * positions) / (ROWS_PER_FEATURE * features)) ** (1 / spatial.length)));
  probe.conv = {
    weight,
    attributes: node.attribute.filter((a) => CONV_GEOMETRY.has(a.name)),
    stride: spatial.map((size) => Math.min(step, size)),
  };
  probe.residual = residualOperand(analysis, consumer.node);
  return probe;
}

/** The other operand when a node's output goes straight and only into an Add with another activation. */
function residualOperand(analysis: Analysis, node: number): string | undefined {
  const { index } = analysis;
  const output = index.nodes[node].output[0];
  const readers = index.consumers.get(output) ?? [];
  if (readers.length !== 1 || index.graphOutputs.has(output)) return undefined;
  const add = index.nodes[readers[0]];
  if (add.opType !== 'Add' || add.domain !== '' || add.input.length !== 2) return undefined;
  const other = add.input[0] === output ? add.input[1] : add.input[0];
  const sameShape = analysis.shapes.get(other)?.join() === analysis.shapes.get(output)?.join();
  return other !== output && !index.constants.has(other) && sameShape ? other : undefined;
}
