import type { NdArray } from './npy.ts';
import { type Progress, silentProgress } from '../progress.ts';
import { IdpruneError, oneLine } from '../errors.ts';
import { floatToHalf } from '../onnx/float16.ts';
import { batchAxis, type InputSpec } from '../onnx/shapes.ts';
import { allocate } from './decoded-array.ts';
import type { TextOptions } from './read-options.ts';
import type { TextTokenizer } from './tokenizer.ts';

/** The inputs text is turned into; a model taking any other input needs its data as an .npz. */
export const TEXT_INPUTS = ['input_ids', 'attention_mask', 'token_type_ids', 'position_ids'];

export interface TextLayout {
  /** Every sequence is padded or cut to this length. */
  maxLength: number;
  inputs: InputSpec[];
}

/**
 * Which of input_ids, attention_mask, token_type_ids and position_ids the model takes, each
 * [batch, sequence], and the sequence length: the model's if fixed, else `maxLength`, else 128.
 */
export function textLayout(inputs: readonly InputSpec[], options: TextOptions, source: string): TextLayout {
  const names = inputs.map((i) => `"${i.name}"`).join(', ');
  if (!inputs.some((i) => i.name === 'input_ids'))
    throw new IdpruneError(`${source}: text gives input_ids, but the model's inputs are ${names}`);
  const others = inputs.filter((i) => !TEXT_INPUTS.includes(i.name));
  if (others.length > 0) {
    throw new IdpruneError(
      `${source}: text gives ${TEXT_INPUTS.join(', ')}; ` +
        `the model also takes ${others.map((i) => `"${i.name}"`).join(', ')} (give every input in an .npz)`,
    );
  }
  for (const input of inputs) {
    if (input.dims.length !== 2 || batchAxis(input) !== 0) {
      throw new IdpruneError(
        `${source}: model input "${input.name}" [${input.dims.map((d) => d ?? '?').join(', ')}] ` +
          'is not [batch, sequence]',
      );
    }
  }
  const fixed = [...new Set(inputs.map((i) => i.dims[1]).filter((d): d is number => d !== null))];
  if (fixed.length > 1)
    throw new IdpruneError(`${source}: the model's text inputs have different sequence lengths (${fixed.join(', ')})`);
  const maxLength = fixed[0] ?? options.maxLength ?? 128;
  if (options.maxLength !== undefined && options.maxLength !== maxLength) {
    throw new IdpruneError(
      `${source}: the model takes sequences of ${maxLength} tokens, but --max-length gives ${options.maxLength}`,
    );
  }
  if (!Number.isInteger(maxLength) || maxLength < 1)
    throw new IdpruneError(`${source}: the sequence length must be a positive integer (got ${maxLength})`);
  return { maxLength, inputs: [...inputs] };
}

/** The start of a JSON value, for a message. */
const shown = (value: unknown) => JSON.stringify(value).slice(0, 40);

/** The samples of a text file: each non-blank line of a .txt, or the `field` of each line of a .jsonl. */
export function parseTexts(content: string, format: 'txt' | 'jsonl', field: string, source: string): string[] {
  const lines = content.replace(/^\uFEFF/, '').split(/\r?\n/);
  const texts: string[] = [];
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    if (format === 'txt') {
      texts.push(line);
      return;
    }
    let record: unknown;
    try {
      record = JSON.parse(line);
    } catch (err) {
      throw new IdpruneError(`${source} line ${i + 1}: not JSON (${oneLine((err as Error).message)})`);
    }
    if (record === null || typeof record !== 'object' || Array.isArray(record)) {
      throw new IdpruneError(`${source} line ${i + 1}: not a JSON object (it holds ${shown(record)})`);
    }
    // An own property only: --text-field constructor must not find Object.prototype's.
    const value = Object.hasOwn(record, field) ? (record as Record<string, unknown>)[field] : undefined;
    if (typeof value !== 'string') {
      const detail = value === undefined ? ' (set the field with --text-field)' : ` (it holds ${shown(value)})`;
      throw new IdpruneError(`${source} line ${i + 1}: no text in field "${field}"${detail}`);
    }
    texts.push(value);
  });
  return texts;
}

/**
 * Token arrays [texts, maxLength] for each of the layout's inputs, in the types the model declares:
 * ids padded on the right with the tokenizer's pad id, attention_mask 1 on tokens and 0 on padding,
 * token_type_ids from the tokenizer, position_ids counting from 0.
 */
export function tokenizeTexts(
  tokenizer: TextTokenizer,
  texts: string[],
  layout: TextLayout,
  source: string,
  progress: Progress = silentProgress,
): Map<string, NdArray> {
  const length = layout.maxLength;
  const arrays = new Map(
    layout.inputs.map((input) => [
      input.name,
      {
        dtype: input.type,
        shape: [texts.length, length],
        data: allocate(input.type, texts.length * length, `${texts.length} texts of ${length} tokens`, source),
      } as NdArray,
    ]),
  );
  const writers = layout.inputs.map((input) => ({ name: input.name, set: setter(arrays.get(input.name)!) }));
  progress.begin('tokenizing', texts.length);
  try {
    texts.forEach((text, n) => {
      const { ids, typeIds } = tokenizer.encode(text, length);
      for (const { name, set } of writers) {
        const row = n * length;
        for (let t = 0; t < length; t++) {
          const real = t < ids.length;
          const value =
            name === 'input_ids'
              ? real
                ? ids[t]
                : tokenizer.padId
              : name === 'attention_mask'
                ? real
                  ? 1
                  : 0
                : name === 'token_type_ids'
                  ? real
                    ? typeIds[t]
                    : 0
                  : t;
          set(row + t, value);
        }
      }
      progress.advance(n + 1);
    });
  } finally {
    progress.end();
  }
  return arrays;
}

function setter(array: NdArray): (index: number, value: number) => void {
  const data = array.data;
  if (data instanceof BigInt64Array) return (i, v) => (data[i] = BigInt(v));
  if (array.dtype === 'float16') return (i, v) => (data[i] = floatToHalf(v));
  return (i, v) => (data[i] = v);
}
