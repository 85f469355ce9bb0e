import { IdpruneError } from '../errors.ts';
import { type ElementType, type HostData, typedArray } from '../onnx/runtime.ts';

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
