import { UnreachableTargetError } from '../errors.ts';
import { type Cost, type CostTerm, termsCost } from '../graph/cost.ts';
import type { ChannelRanking } from './selection.ts';

export type Budget =
  | { kind: 'flops' | 'params'; fraction: number }
  /**
   * This fraction of the original's latency at this batch size, on the runtime that compresses with
   * this many intra-op threads (default: the runtime's).
   */
  | { kind: 'latency'; fraction: number; batch: number; threads?: number }
  | { kind: 'tolerance'; error: number }
  /** The same kept fraction in every space: of its neurons, or of its heads where channels are units. */
  | { kind: 'keep'; neurons?: number; heads?: number };

export interface AllocationInput {
  /**
   * Prunable spaces: id → channel count, ranking, and how many tensors the consumers read (each
   * carries the reconstruction error on: a residual stream read after every block counts for each),
   * and optionally the measured error of the model's outputs per kept count (see sensitivity.ts),
   * which then replaces read points × relative error as the error a removal adds.
   */
  spaces: Map<
    number,
    {
      channels: number;
      unit?: number;
      ranking: ChannelRanking;
      readPoints: number;
      outputError?: Float64Array;
      /** Rounded finer where narrow (see spaceRounding), or to convolutionRoundTo. */
      rounding?: 'finer' | 'convolution';
    }
  >;
  flops: CostTerm[];
  params: CostTerm[];
  /**
   * With a latency budget: the model of the runtime's time (latency-model.ts), and the fraction of
   * it to keep (the budget's, or an aim corrected by the clock, see latency-budget.ts).
   */
  latency?: { cost: Cost; fraction: number };
  budget: Budget;
  /**
   * Kept neuron counts are multiples of this: for units of several neurons (heads), whole units that
   * make such a multiple. Spaces marked 'finer' round finer where they are narrow (see
   * spaceRounding), spaces marked 'convolution' to convolutionRoundTo (default roundTo).
   */
  roundTo: number;
  convolutionRoundTo?: number;
  minKeep: number;
}

/** Kept counts a space may take, largest first: all channels, then multiples of roundTo down to minKeep. */
export function allowedSizes(channels: number, roundTo: number, minKeep: number): number[] {
  const floor = Math.min(channels, Math.max(1, minKeep));
  const sizes = [channels];
  for (let k = Math.floor((channels - 1) / roundTo) * roundTo; k >= floor; k -= roundTo) if (k > 0) sizes.push(k);
  return sizes;
}

/** The step in a space's channels (units) that keeps neuron counts multiples of roundTo. */
function unitStep(roundTo: number, unit = 1): number {
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
  return roundTo / gcd(roundTo, unit);
}

/**
 * The rounding of one space: `roundTo`, or finer on a narrow space, so that one step removes at
 * most about a twelfth of its channels (multiples of 8 would make the first cut of a 48-channel
 * space 17%). A step stays a power of two that divides `roundTo`.
 */
export function spaceRounding(channels: number, roundTo: number): number {
  let step = roundTo;
  while (step > 1 && step % 2 === 0 && step * 12 > channels) step /= 2;
  return step;
}

/**
 * The rounding of a convolution's space: `convolutionRoundTo` where the space can take at least one
 * step of it (a 32-channel space keeps 32 or 16), else `roundTo` (a 16-channel space keeps 16 or 8).
 */
export function convolutionRounding(channels: number, roundTo: number, convolutionRoundTo = roundTo): number {
  return convolutionRoundTo * 2 <= channels ? convolutionRoundTo : roundTo;
}

function sizesOf(input: AllocationInput): Map<number, number[]> {
  return new Map(
    [...input.spaces].map(([id, s]) => {
      const rounding =
        s.rounding === 'finer' && (s.unit ?? 1) === 1
          ? spaceRounding(s.channels, input.roundTo)
          : s.rounding === 'convolution'
            ? convolutionRounding(s.channels, input.roundTo, input.convolutionRoundTo)
            : input.roundTo;
      return [id, allowedSizes(s.channels, unitStep(rounding, s.unit), input.minKeep)];
    }),
  );
}

type CostBudget = Extract<Budget, { kind: 'flops' | 'params' | 'latency' }>;

/** The cost a budget spends, and the fraction of it to keep. */
function costTarget(input: AllocationInput, budget: CostBudget): { cost: Cost; fraction: number } {
  if (budget.kind === 'latency') {
    if (!input.latency) throw new Error('a latency budget needs a latency model');
    return input.latency;
  }
  return { cost: termsCost(budget.kind === 'flops' ? input.flops : input.params), fraction: budget.fraction };
}

/** The fraction of a cost left with every space at its smallest allowed size. */
function floorFraction(input: AllocationInput, cost: Cost): number {
  const sizes = sizesOf(input);
  const fraction = (id: number) => {
    const space = input.spaces.get(id);
    return space ? sizes.get(id)!.at(-1)! / space.channels : 1;
  };
  return cost.total(fraction) / cost.total(() => 1);
}

/** Whether the allowed sizes can meet the budget (always, for budgets without a cost target). */
export function reachable(input: AllocationInput): boolean {
  const budget = input.budget;
  if (budget.kind === 'tolerance' || budget.kind === 'keep') return true;
  const { cost, fraction } = costTarget(input, budget);
  return floorFraction(input, cost) <= fraction;
}

/**
 * Chooses how many channels each space keeps. With a tolerance, each space keeps the fewest
 * channels whose relative error (‖Z − Z_S T‖_F / ‖Z‖_F) stays within it. With a FLOPs or parameter
 * target, channels are removed greedily where the error added (relative squared error times read
 * points) per unit of cost saved is smallest, until the whole model's cost meets the target.
 */
export function allocateChannels(input: AllocationInput): Map<number, number> {
  const budget = input.budget;
  if (budget.kind === 'keep') return keepFractions(input, budget);
  if (budget.kind === 'tolerance') return withinTolerance(input, budget.error);
  return meetCostTarget(input, budget);
}

/** The allowed size nearest the space's fraction (the larger one on a tie). */
function keepFractions(input: AllocationInput, budget: Extract<Budget, { kind: 'keep' }>): Map<number, number> {
  const sizes = sizesOf(input);
  return new Map(
    [...input.spaces].map(([id, { channels, unit }]) => {
      const fraction = (unit ?? 1) > 1 ? budget.heads : budget.neurons;
      if (fraction === undefined) return [id, channels];
      const wanted = fraction * channels;
      return [id, sizes.get(id)!.reduce((best, k) => (Math.abs(k - wanted) < Math.abs(best - wanted) ? k : best))];
    }),
  );
}

function withinTolerance(input: AllocationInput, tolerance: number): Map<number, number> {
  const sizes = sizesOf(input);
  return new Map(
    [...input.spaces].map(([id, space]) => {
      const err = space.ranking.relativeError;
      const list = sizes.get(id)!;
      let s = 0;
      while (s + 1 < list.length && Math.sqrt(err[list[s + 1]]) <= tolerance) s++;
      return [id, list[s]];
    }),
  );
}

/**
 * The error the allocation weighs for a space at a kept count: its measured output error where
 * measured, else its relative error times its read points.
 */
function spaceError(input: Pick<AllocationInput, 'spaces'>, id: number, kept: number): number {
  const space = input.spaces.get(id)!;
  return space.outputError ? space.outputError[kept] : space.readPoints * space.ranking.relativeError[kept];
}

/** The error of kept counts as the allocation weighs it: summed over the spaces; comparable between allocations. */
export function modelledError(input: Pick<AllocationInput, 'spaces'>, kept: ReadonlyMap<number, number>): number {
  let total = 0;
  for (const id of input.spaces.keys()) total += spaceError(input, id, kept.get(id)!);
  return total;
}

/** One step of one space between two allowed sizes: its score, and the cost it moves. */
type Move = { id: number; score: number; cost: number };

/** The move with the lowest finite score (or the highest, with `highest`); the first on a tie. */
function bestMove(candidates: (Move | undefined)[], highest = false): Move | undefined {
  let best: Move | undefined;
  let bestScore = highest ? -Infinity : Infinity;
  for (const move of candidates) {
    if (move && (highest ? move.score > bestScore : move.score < bestScore)) {
      best = move;
      bestScore = move.score;
    }
  }
  return best;
}

function meetCostTarget(input: AllocationInput, budget: CostBudget): Map<number, number> {
  const ids = [...input.spaces.keys()];
  const sizes = sizesOf(input);
  const step = new Map(ids.map((id) => [id, 0]));
  const keepOf = (id: number) => sizes.get(id)![step.get(id)!];
  const { cost, fraction } = costTarget(input, budget);
  const fractionOf = (id: number) => {
    const space = input.spaces.get(id);
    return space ? keepOf(id) / space.channels : 1;
  };
  const original = cost.total(() => 1);
  const target = fraction * original;
  const floor = floorFraction(input, cost);
  if (floor > fraction) {
    const measure = budget.kind === 'latency' ? 'latency (as modelled)' : budget.kind;
    throw new UnreachableTargetError(
      `target ${budget.kind} ${budget.fraction} is not reachable: pruning every prunable space to its minimum leaves ` +
        `${floor.toFixed(3)} of the original ${measure}` +
        (input.roundTo > 1
          ? ` (with counts rounded to multiples of ${input.roundTo}; --round-to 1 allows finer sizes)`
          : ''),
    );
  }
  /** Cost saved by moving space `id` from allowed size `from` to the smaller `to`, others as they are. */
  const saving = (id: number, from: number, to: number) => {
    const channels = input.spaces.get(id)!.channels;
    const at = (size: number) => cost.partOf(id, (s) => (s === id ? size / channels : fractionOf(s)));
    return at(from) - at(to);
  };
  /** Weighted error added by that move. */
  const errorAdded = (id: number, from: number, to: number) => spaceError(input, id, to) - spaceError(input, id, from);
  /** Removing the next allowed step of a space: error added per cost saved. */
  const shrink = (id: number): Move | undefined => {
    const list = sizes.get(id)!;
    const s = step.get(id)!;
    if (s + 1 >= list.length) return undefined;
    const cost = saving(id, list[s], list[s + 1]);
    return cost > 0 ? { id, score: errorAdded(id, list[s], list[s + 1]) / cost, cost } : undefined;
  };
  /** Giving a step back, where it still fits the target: error saved per cost. */
  const grow = (id: number, current: number): Move | undefined => {
    const list = sizes.get(id)!;
    const s = step.get(id)!;
    if (s === 0) return undefined;
    const cost = saving(id, list[s - 1], list[s]);
    if (current + cost > target) return undefined;
    return { id, score: errorAdded(id, list[s - 1], list[s]) / Math.max(cost, Number.MIN_VALUE), cost };
  };

  let current = original;
  while (current > target) {
    const move = bestMove(ids.map(shrink));
    if (!move) break;
    step.set(move.id, step.get(move.id)! + 1);
    current -= move.cost;
  }
  // With coarse steps (--round-to) the last removal overshoots: give back whatever still fits,
  // where it buys the most error per unit of cost.
  for (;;) {
    const move = bestMove(
      ids.map((id) => grow(id, current)),
      true,
    );
    if (!move) break;
    step.set(move.id, step.get(move.id)! - 1);
    current += move.cost;
  }
  return new Map(ids.map((id) => [id, keepOf(id)]));
}
