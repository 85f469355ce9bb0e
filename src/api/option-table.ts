import { AUGMENTS } from '../calibrate/mirror.ts';
import { ALLOCATIONS, CORRECTION_MODES, DEFAULT_BATCH_SIZE } from '../compress/options.ts';
import { OUTPUT_METRICS } from '../compress/output-error.ts';
import { IdpruneError } from '../errors.ts';
import { DEFAULT_LATENCY_RUNS } from '../onnx/latency.ts';
import { COLOUR_ORDERS, PIXEL_LAYOUTS, PRESETS, RESIZE_MODES, type ReadOptions } from '../data/read-options.ts';

/*
 * The options of a run, declared once. The library's option types (OptionValues), its checks
 * (checkOptions) and the command line's flags (cli/option-flags.ts: `--kebab-case` of each name)
 * all come from these tables.
 */

/** What values an option takes. */
export type Domain =
  /** A number in (0, 1]. */
  | { kind: 'fraction' }
  /** A finite number > 0. */
  | { kind: 'positive' }
  /** An integer ≥ 1. */
  | { kind: 'count' }
  | { kind: 'choice'; choices: readonly string[] }
  /** On or off: a flag without a value. */
  | { kind: 'switch' }
  | { kind: 'name' }
  /** Names, comma-separated or repeated on the command line. */
  | { kind: 'names' }
  /** Numbers, comma-separated on the command line (fractions such as 1/255 allowed there). */
  | { kind: 'numbers' }
  /** A positive number (a fraction such as 1/255 allowed on the command line). */
  | { kind: 'scale' }
  /** [height] or [height, width] in pixels (H or H,W on the command line). */
  | { kind: 'size' };

export interface OptionSpec {
  domain: Domain;
  /** The value's name in the command line's help (`--target-flops <fraction>`); none for a switch. */
  value?: string;
  help: string;
  /** The default shown and applied by the command line; the library applies the same where unset. */
  default?: unknown;
  /** The heading the command line's help lists the flag under (default: the command's options). */
  group?: string;
}

type ValueOf<D extends Domain> = D extends { kind: 'choice'; choices: readonly (infer C)[] }
  ? C
  : D extends { kind: 'switch' }
    ? boolean
    : D extends { kind: 'name' }
      ? string
      : D extends { kind: 'names' }
        ? string[]
        : D extends { kind: 'numbers' | 'size' }
          ? number[]
          : number;

/** The options of a table as a TypeScript type (each property keeps the table entry's documentation). */
export type OptionValues<T extends Record<string, OptionSpec>> = { -readonly [K in keyof T]?: ValueOf<T[K]['domain']> };

/** The options of a table once its defaults are applied: those with a default are always set. */
export type ResolvedValues<T extends Record<string, OptionSpec>> = OptionValues<T> & {
  -readonly [K in keyof T as T[K] extends { default: unknown } ? K : never]-?: ValueOf<T[K]['domain']>;
};

const fraction = { kind: 'fraction' } as const;
const count = { kind: 'count' } as const;
const choice = <const C extends readonly string[]>(choices: C) => ({ kind: 'choice', choices }) as const;

/** How much to keep: at most one of these; none means targetFlops 0.5. */
export const TARGET_OPTIONS = {
  /** Keep this fraction of the FLOPs, (0, 1]. */
  targetFlops: { domain: fraction, value: 'fraction', help: 'keep this fraction of the FLOPs (default 0.5)' },
  /** Keep this fraction of the parameters, (0, 1]. */
  targetParams: { domain: fraction, value: 'fraction', help: 'keep this fraction of the parameters' },
  /** Largest relative error allowed in each channel space, instead of a size target. */
  tolerance: {
    domain: { kind: 'positive' },
    value: 'error',
    help: 'per-space relative error to allow, instead of a size target',
  },
  /** Keep this fraction of every space of single channels or neurons. */
  keepNeurons: {
    domain: fraction,
    value: 'fraction',
    help: 'keep this fraction of every space of single channels or neurons, instead of a size target',
  },
  /** Keep this fraction of the heads of every attention block. */
  keepHeads: {
    domain: fraction,
    value: 'fraction',
    help: 'keep this fraction of the heads of every attention block, instead of a size target',
  },
  /**
   * Run in this fraction of the original's time (at --latency-batch, on this machine's ONNX Runtime):
   * sizes chosen on a measured model of the runtime's time per layer, then timed.
   */
  targetLatency: {
    domain: fraction,
    value: 'fraction',
    help:
      "run in this fraction of the original's time on this machine's ONNX Runtime (at --latency-batch): " +
      'sizes from a measured model of the time per layer, checked by timing',
  },
  /**
   * The smallest model (in FLOPs) that keeps this share of top-1 decisions on calibration samples
   * held out from its fit: no FLOPs number to guess.
   */
  targetAgreement: {
    domain: fraction,
    value: 'fraction',
    help:
      'the fewest FLOPs that keep this share of top-1 decisions on calibration samples held out from the fit ' +
      '(a search of several compressions)',
  },
  /**
   * The smallest model whose first output keeps this mean cosine with the original's on held-out
   * calibration samples.
   */
  targetCosine: {
    domain: fraction,
    value: 'value',
    help:
      'the fewest FLOPs whose first output keeps this mean cosine with the original on held-out ' +
      'calibration samples',
  },
} as const satisfies Record<string, OptionSpec>;

/** Where latencies are timed: onnxruntime-node in this process, or onnxruntime-web in Chromium. */
export const LATENCY_RUNTIMES = ['node', 'web'] as const;
export type LatencyRuntime = (typeof LATENCY_RUNTIMES)[number];

/** How to compress, whatever the target: the library's options, and the flags of `compress` and `sweep`. */
export const COMPRESSION_OPTIONS = {
  /**
   * 'corrected' (default) refits each layer against the original network given the pruned layers
   * before it; 'plain' folds the interpolation from the statistics alone: faster, less accurate
   * at strong compression, and it leaves coupled spaces (residual streams) intact.
   */
  mode: {
    domain: choice(CORRECTION_MODES),
    value: 'mode',
    help:
      'corrected: fit each layer against the original network given the pruned upstream; ' +
      'plain: interpolation from the statistics alone, faster, coupled spaces left intact',
    default: 'corrected',
  },
  /**
   * How per-layer sizes are chosen: 'measured' by the output error of pruning each space alone,
   * 'estimated' by the statistics alone. Default: measured in corrected mode, estimated in plain.
   */
  allocation: {
    domain: choice(ALLOCATIONS),
    value: 'how',
    help:
      'per-layer sizes by the measured output error of pruning each space alone (measured; default in ' +
      'corrected mode), or by the statistics alone (estimated: faster; default in plain mode)',
  },
  /**
   * How the measured allocation reads the outputs: 'auto' (default) by their decisions for
   * Softmax, LogSoftmax and Sigmoid outputs and by relative L2 for others; 'decisions' reads every
   * output as class scores along its last axis (logits); 'relative' reads all as relative L2.
   */
  metric: {
    domain: choice(OUTPUT_METRICS),
    value: 'how',
    help:
      'how the measured allocation reads the outputs: auto (decisions for Softmax/Sigmoid outputs, relative L2 ' +
      'for others), decisions (every output as class scores, e.g. logits), relative',
    default: 'auto',
  },
  /** Kept counts are multiples of this (default 8, or 1 where 8 cannot meet the target). */
  roundTo: {
    domain: count,
    value: 'm',
    help:
      'kept neuron counts are multiples of m, which runtimes run faster (default 8; 1 where 8 cannot meet the ' +
      'target, and with --keep-neurons/--keep-heads)',
  },
  /** Keep at least this many channels in every space (default 1). */
  minKeep: { domain: count, value: 'n', help: 'keep at least n channels in every space', default: 1 },
  /** Leave the spaces touching these nodes or tensors intact. */
  skip: {
    domain: { kind: 'names' },
    value: 'names',
    help: 'leave spaces touching these nodes or tensors intact (comma-separated, repeatable)',
    default: [],
  },
  /** Leave coupled spaces (residual streams, gated branches) intact. */
  keepCoupled: {
    domain: { kind: 'switch' },
    help: 'leave coupled spaces (residual streams, gated branches) intact (always in the plain mode)',
  },
  /** The input marking padding tokens with 0 (default: attention_mask if the model has it). */
  maskInput: {
    domain: { kind: 'name' },
    value: 'name',
    help:
      'input marking padding tokens with 0, left out of the statistics ' +
      '(default: attention_mask if the model has it)',
  },
  /** Samples per run that --target-latency times (default 1; a model's fixed batch size wins). */
  latencyBatch: {
    domain: count,
    value: 'n',
    help: 'samples per run that --target-latency times',
    default: 1,
  },
  /** Intra-op threads of the runs that are timed (default: one per core). */
  threads: { domain: count, value: 'n', help: 'intra-op threads of the timed runs (default: one per core)' },
  /** Where latencies are timed: onnxruntime-node (default), or onnxruntime-web in Chromium. */
  runtime: {
    domain: choice(LATENCY_RUNTIMES),
    value: 'name',
    help:
      'where latencies are timed (--target-latency, --eval): node (onnxruntime-node) or web (onnxruntime-web, ' +
      'WebAssembly, in a headless Chromium; needs playwright-core and onnxruntime-web installed)',
    default: 'node',
  },
  /** Samples per inference batch (default 64; a model's fixed batch size wins). */
  batchSize: { domain: count, value: 'n', help: 'samples per inference batch', default: DEFAULT_BATCH_SIZE },
  /**
   * 'auto' (default): calibration images fewer than 128 are joined by their left-right mirror
   * images (more rows for the statistics and refits); 'mirror' always, 'none' never.
   */
  augment: {
    domain: choice(AUGMENTS),
    value: 'how',
    help:
      'add the mirror image of every calibration image: auto (where images are fewer than 128), ' +
      'mirror (always), none',
    default: 'auto',
  },
  /**
   * Estimate the agreement on unseen data from the calibration data alone: the same compression fitted
   * on three quarters of it, compared with the original on the quarter it did not see (report.estimate).
   */
  estimate: {
    domain: { kind: 'switch' },
    help:
      'estimate the agreement on unseen data from the calibration data: a second compression on 3/4 of it, ' +
      'measured on the rest',
  },
} as const satisfies Record<string, OptionSpec>;

/** How two models are compared: the library's evaluate options and the flags of `eval`. */
export const EVALUATE_OPTIONS = {
  /** Samples per inference batch (default 64). */
  batchSize: COMPRESSION_OPTIONS.batchSize,
  /** Intra-op threads of the timed runs (default: one per core). */
  threads: COMPRESSION_OPTIONS.threads,
  /** Where latencies are timed: node (default) or web. */
  runtime: COMPRESSION_OPTIONS.runtime,
  /** Timed runs per model for the latency ratio, at least (default 20; more for a fast model, half a second each). */
  runs: {
    domain: count,
    value: 'n',
    help: 'timed runs per model for the latency ratio, at least (more for a fast model: half a second each)',
    default: DEFAULT_LATENCY_RUNS,
  },
  /** Language models: greedy continuations of n tokens after the rest of each sample, compared token by token. */
  generate: {
    domain: count,
    value: 'n',
    help:
      'language models: both models continue the first tokens of each sample (up to 64) by n tokens, greedily ' +
      '(with the KV cache where the model has one); counts identical continuations and tokens/s at batch 1',
  },
} as const satisfies Record<string, OptionSpec>;

const READING = 'Reading images, audio and text:';

/** How images, audio and text become the model's inputs (ReadOptions); NumPy data is taken as it is. */
export const READ_OPTIONS = {
  imageSize: {
    domain: { kind: 'size' },
    value: 'h[,w]',
    help: "image size where the model's input leaves it free",
    group: READING,
  },
  layout: {
    domain: choice(PIXEL_LAYOUTS),
    value: 'layout',
    help: 'image layout (default: channels of 1 or 3 on axis 1 → nchw, on the last axis → nhwc)',
    group: READING,
  },
  channels: {
    domain: choice(COLOUR_ORDERS),
    value: 'order',
    help: 'colour channels (default: 3 channels → rgb, 1 → gray)',
    group: READING,
  },
  resize: {
    domain: choice(RESIZE_MODES),
    value: 'how',
    help:
      'crop: scale to cover the size (the shorter side to it), then cut out the centre; ' +
      'stretch: scale to the size, ignoring the aspect ratio',
    default: 'crop',
    group: READING,
  },
  preprocess: {
    domain: choice(PRESETS),
    value: 'preset',
    help:
      'imagenet: mean 0.485,0.456,0.406, std 0.229,0.224,0.225; 0-1: pixels / 255 (default); ' +
      '-1-1: pixels / 127.5 - 1',
    group: READING,
  },
  scale: {
    domain: { kind: 'scale' },
    value: 'x',
    help: 'x = (pixel · scale − mean) / std per channel; scale default 1/255',
    group: READING,
  },
  mean: {
    domain: { kind: 'numbers' },
    value: 'values',
    help: "one value, or one per channel in the model's channel order (default 0)",
    group: READING,
  },
  std: {
    domain: { kind: 'numbers' },
    value: 'values',
    help: 'one value, or one per channel (default 1)',
    group: READING,
  },
  sampleRate: {
    domain: count,
    value: 'hz',
    help: 'audio is resampled to this rate',
    default: 16000,
    group: READING,
  },
  window: {
    domain: count,
    value: 'n',
    help: "samples per audio window where the model's input length is free",
    group: READING,
  },
  hop: {
    domain: count,
    value: 'n',
    help: 'samples between the starts of audio windows (default: the window)',
    group: READING,
  },
  tokenizer: {
    domain: { kind: 'name' },
    value: 'path',
    help: "the model's Hugging Face tokenizer.json (default: tokenizer.json beside the model)",
    group: READING,
  },
  textField: {
    domain: { kind: 'name' },
    value: 'name',
    help: 'the field of each .jsonl line holding the text',
    default: 'text',
    group: READING,
  },
  maxLength: {
    domain: count,
    value: 'n',
    help: "tokens per text, padded or cut (default: the model's fixed sequence length, else 128)",
    group: READING,
  },
} as const satisfies Record<Exclude<keyof ReadOptions, 'modelPath'>, OptionSpec>;

const TABLES: Record<string, OptionSpec>[] = [TARGET_OPTIONS, COMPRESSION_OPTIONS, EVALUATE_OPTIONS, READ_OPTIONS];

/** Whether `value` lies in the domain. */
export function inDomain(domain: Domain, value: unknown): boolean {
  switch (domain.kind) {
    case 'fraction':
      return typeof value === 'number' && value > 0 && value <= 1;
    case 'positive':
      return typeof value === 'number' && value > 0 && Number.isFinite(value);
    case 'count':
      return typeof value === 'number' && Number.isInteger(value) && value >= 1;
    case 'choice':
      return typeof value === 'string' && domain.choices.includes(value);
    case 'switch':
      return typeof value === 'boolean';
    case 'name':
      return typeof value === 'string';
    case 'names':
      return Array.isArray(value) && value.every((v) => typeof v === 'string');
    case 'numbers':
      return (
        Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === 'number' && Number.isFinite(v))
      );
    case 'scale':
      return typeof value === 'number' && value > 0 && Number.isFinite(value);
    case 'size':
      return (
        Array.isArray(value) &&
        (value.length === 1 || value.length === 2) &&
        value.every((v) => typeof v === 'number' && Number.isInteger(v) && v >= 1)
      );
  }
}

/** What the domain takes, in words (for error messages). */
export function describeDomain(domain: Domain): string {
  switch (domain.kind) {
    case 'fraction':
      return 'a number in (0, 1]';
    case 'positive':
      return 'a positive number';
    case 'count':
      return 'a positive integer';
    case 'choice':
      return `one of ${domain.choices.join(', ')}`;
    case 'switch':
      return 'true or false';
    case 'name':
      return 'a name';
    case 'names':
      return 'a list of names';
    case 'numbers':
      return 'a list of numbers';
    case 'scale':
      return 'a positive number';
    case 'size':
      return '[height] or [height, width] in pixels';
  }
}

/** Checks the library's options against the tables, as the command line's parser checks its flags. */
export function checkOptions(options: unknown, what = 'options'): void {
  if (typeof options !== 'object' || options === null || Array.isArray(options))
    throw new IdpruneError(`${what} must be an object of named options`);
  for (const [name, value] of Object.entries(options)) {
    if (value === undefined) continue;
    const spec = TABLES.find((table) => Object.hasOwn(table, name))?.[name];
    if (spec && !inDomain(spec.domain, value))
      throw new IdpruneError(`option ${name}: expected ${describeDomain(spec.domain)}, got ${String(value)}`);
  }
}

/** The options with the table's defaults where unset (as the command line's parser gives them). */
export function withDefaults<T extends Record<string, OptionSpec>, O extends object>(
  table: T,
  options: O,
): O & ResolvedValues<T> {
  const defaults = Object.entries(table).filter(([name, spec]) => spec.default !== undefined && !isSet(options, name));
  const filled = Object.fromEntries(defaults.map(([name, spec]) => [name, structuredClone(spec.default)]));
  return { ...options, ...filled } as O & ResolvedValues<T>;
}

const isSet = (options: object, name: string) => (options as Record<string, unknown>)[name] !== undefined;
