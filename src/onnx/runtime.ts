import { halfToFloat } from './float16.ts';
/** Element types exchanged with the inference runtime. */
export type ElementType = 'float32' | 'float64' | 'float16' | 'int64' | 'int32' | 'uint8' | 'bool';

export type HostData = Float32Array | Float64Array | Uint16Array | BigInt64Array | Int32Array | Uint8Array;

/** The typed array holding each element type (float16 as its raw bits). */
const TYPED_ARRAYS = {
  float32: Float32Array,
  float64: Float64Array,
  float16: Uint16Array,
  int64: BigInt64Array,
  int32: Int32Array,
  uint8: Uint8Array,
  bool: Uint8Array,
} as const;

/** A zeroed array of `length` elements, or a view of `buffer`, for the element type. */
export function typedArray(type: ElementType, source: number | ArrayBuffer): HostData {
  const Constructor = TYPED_ARRAYS[type] as unknown as new (source: number | ArrayBuffer) => HostData;
  return new Constructor(source);
}

export interface HostTensor {
  type: ElementType;
  dims: number[];
  data: HostData;
}

export type Feeds = Record<string, HostTensor>;

/** A float tensor's values as numbers (float16 widened); undefined for tensors of other types. */
export function floatValues(t: HostTensor): ArrayLike<number> | undefined {
  if (t.type === 'float16') return Array.from(t.data as Uint16Array, halfToFloat);
  if (t.type === 'float32' || t.type === 'float64') return t.data as Float32Array | Float64Array;
  return undefined;
}

export interface InferenceSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(feeds: Feeds, outputNames?: readonly string[]): Promise<Record<string, HostTensor>>;
  release(): Promise<void>;
}

/**
 * The inference engine the core runs models with (ONNX Runtime, native or web). Kept to this
 * small interface so that analysis, statistics and evaluation never import a platform binding.
 */
export interface Runtime {
  load(model: Uint8Array, options?: LoadOptions): Promise<InferenceSession>;
  /** The intra-op threads a session runs on unless `LoadOptions.threads` says otherwise. */
  readonly defaultThreads: number;
  /**
   * The time of each kernel in `runs` runs of the model, after `warmUp` runs, where the runtime can
   * report it (ONNX Runtime's profiler): what a latency model of the runtime is measured from.
   */
  profile?(
    model: Uint8Array,
    feeds: Feeds,
    count: { warmUp: number; runs: number },
    options?: LoadOptions,
  ): Promise<RunProfile[]>;
}

/** One profiled run: its time and the time of each kernel it ran, in microseconds. */
export interface RunProfile {
  microseconds: number;
  kernels: KernelTime[];
}

export interface KernelTime {
  /** The runtime's name for the kernel: a node's name or output, possibly changed by a fusion. */
  name: string;
  op: string;
  microseconds: number;
}

export interface LoadOptions {
  /**
   * 'basic' for copies of a model that expose many intermediate tensors (the shape probe): the
   * runtime's extended fusions assume intermediates stay internal, and have crashed on such copies.
   */
  optimization?: 'basic' | 'all';
  /**
   * false for sessions whose intermediate tensors are large: the runtime's memory arena grew with
   * every batch over them (ResNet-50 at 224 × 224, statistics pass: 0.7 GB after one batch of 64,
   * 5.1 GB after four), where without it memory is returned between runs. Default true.
   */
  memoryArena?: boolean;
  /** Intra-op threads (default: the runtime's defaultThreads). */
  threads?: number;
  /**
   * false for sessions that are timed: threads waiting for work then sleep instead of spinning. Two
   * sessions timed in turn on a machine with as many threads as cores otherwise take the cores from
   * each other (VGG fixture at batch 64, 2 threads on 2 cores: the ratio's interquartile range
   * 0.35–0.80 with spinning, 0.525–0.533 without). Default true.
   */
  spinning?: boolean;
}
