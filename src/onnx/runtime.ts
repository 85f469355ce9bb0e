/** Element types exchanged with the inference runtime. */
export type ElementType = 'float32' | 'float64' | 'float16' | 'int64' | 'int32' | 'uint8' | 'bool';

export type HostData = Float32Array | Float64Array | Uint16Array | BigInt64Array | Int32Array | Uint8Array;

export interface HostTensor {
  type: ElementType;
  dims: number[];
  data: HostData;
}

export type Feeds = Record<string, HostTensor>;

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
  load(model: Uint8Array): Promise<InferenceSession>;
}
