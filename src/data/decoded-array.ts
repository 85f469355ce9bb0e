import { IdpruneError } from '../errors.ts';
import { type ElementType, type HostData, typedArray } from '../onnx/runtime.ts';

/**
 * The largest input magnitude taken, for every kind of data. The statistics are sums of squares in
 * float32 (at most 3.4e38) over up to millions of rows: values beyond 1e15 (squares of 1e30) could
 * overflow them, and no preprocessing a model expects gives such values.
 */
export const MAX_INPUT_MAGNITUDE = 1e15;

/** The one array all samples are decoded into; a size the engine cannot allocate is a clear error, not a crash. */
export function allocate(type: ElementType, length: number, what: string, source: string): HostData {
  try {
    return typedArray(type, length);
  } catch (err) {
    if (!(err instanceof RangeError)) throw err;
    const bytes = length * typedArray(type, 0).BYTES_PER_ELEMENT;
    throw new IdpruneError(
      `${source}: ${what} take ${(bytes / 2 ** 30).toFixed(1)} GB decoded, ` +
        'more than can be held at once; give fewer samples',
    );
  }
}
