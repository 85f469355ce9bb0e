// The corpus of third-party models (scripts/corpus/corpus.json, fetched into .cache/corpus/ by
// scripts/corpus/fetch.mjs, data by scripts/corpus/make_data.py) and what each one's outputs mean.
import { existsSync, readFileSync } from 'node:fs';
import type { ArraySource } from '../src/data/npy.ts';
import { readArrays } from '../src/io/files.ts';

/** How a model's outputs are judged (bench/real-metrics.ts). */
export type Task =
  | { kind: 'classifier'; output: string }
  | { kind: 'ssr'; what: 'gender' | 'age' }
  | { kind: 'embedding'; output: string }
  | { kind: 'landmarks'; output: string }
  | { kind: 'pose' }
  | { kind: 'detector' }
  | { kind: 'mask'; output: string; threshold?: number }
  | { kind: 'vad' }
  | { kind: 'ctc'; output: string }
  | { kind: 'score'; output: string; threshold: number }
  | { kind: 'spectrogram'; output: string };

/**
 * A stateful model run chunk by chunk: `stateOut` of one chunk is fed as `state` to the next, reset where `start` is 1.
 */
export interface Recurrence {
  state: string;
  stateOut: string;
  start: string;
}

export interface CorpusModel {
  id: string;
  task: Task;
  recurrence?: Recurrence;
}

/** The timer head's output is named by its class map. */
const OWW_TIMER_OUTPUT =
  '{"1": "1_minute_timer", "2": "5_minute_timer", "3": "10_minute_timer", ' +
  '"4": "20_minute_timer", "5": "30_minute_timer", "6": "1_hour_timer"}';

const SILERO: Recurrence = { state: 'state', stateOut: 'stateN', start: 'start' };

export const CORPUS: CorpusModel[] = [
  { id: 'fr_detect', task: { kind: 'detector' } },
  { id: 'fr_feature', task: { kind: 'embedding', output: 'output' } },
  { id: 'fr_liveness', task: { kind: 'classifier', output: 'output' } },
  { id: 'fr_expression', task: { kind: 'classifier', output: 'output' } },
  { id: 'fr_pose', task: { kind: 'pose' } },
  { id: 'fr_landmark', task: { kind: 'landmarks', output: 'output' } },
  { id: 'fr_eye', task: { kind: 'classifier', output: 'output' } },
  { id: 'fr_gender', task: { kind: 'ssr', what: 'gender' } },
  { id: 'fr_age', task: { kind: 'ssr', what: 'age' } },
  { id: 'silero_v5', task: { kind: 'vad' }, recurrence: SILERO },
  { id: 'silero_op18', task: { kind: 'vad' }, recurrence: SILERO },
  { id: 'detypify', task: { kind: 'classifier', output: 'linear' } },
  { id: 'isnet_uint8', task: { kind: 'mask', output: 'output' } },
  { id: 'isnet_fp16', task: { kind: 'mask', output: 'output' } },
  { id: 'ocr_det', task: { kind: 'mask', output: 'sigmoid_0.tmp_0', threshold: 0.03 } },
  { id: 'ocr_rec', task: { kind: 'ctc', output: 'softmax_11.tmp_0' } },
  { id: 'ocr_cls', task: { kind: 'classifier', output: 'softmax_0.tmp_0' } },
  { id: 'oww_mel', task: { kind: 'spectrogram', output: 'output' } },
  { id: 'oww_embedding', task: { kind: 'embedding', output: 'conv2d_19' } },
  { id: 'oww_alexa', task: { kind: 'score', output: '13', threshold: 0.5 } },
  { id: 'oww_timer', task: { kind: 'classifier', output: OWW_TIMER_OUTPUT } },
  { id: 'oww_jarvis', task: { kind: 'score', output: '53', threshold: 0.5 } },
];

export const corpusModel = (id: string): CorpusModel => {
  const model = CORPUS.find((m) => m.id === id);
  if (!model) throw new Error(`unknown corpus model ${id} (known: ${CORPUS.map((m) => m.id).join(', ')})`);
  return model;
};

const cache = new URL('../.cache/corpus/', import.meta.url).pathname;
export const modelPath = (id: string) => `${cache}models/${id}.onnx`;

export type Split = 'calib' | 'calib16' | 'calib64' | 'heldout';

export function dataPath(id: string, split: Split): string {
  for (const ext of ['npy', 'npz']) {
    const path = `${cache}data/${id}/${split}.${ext}`;
    if (existsSync(path)) return path;
  }
  throw new Error(
    `no ${split} data for ${id} in ${cache}data/${id}/: run /usr/bin/python3 scripts/corpus/make_data.py`,
  );
}

/** A split's arrays, keyed by input name (a lone .npy by the model's single input). */
export function loadSplit(id: string, split: Split, inputNames: readonly string[]): Map<string, ArraySource> {
  const arrays = readArrays(dataPath(id, split));
  if (arrays.size === 1 && inputNames.length === 1) return new Map([[inputNames[0], [...arrays.values()][0]]]);
  return arrays;
}

export interface ManifestEntry {
  package: string;
  producer: string;
  opset: number;
  description: string;
}

/** The model's entry of scripts/corpus/corpus.json. */
export function manifestEntry(id: string): ManifestEntry {
  const manifest = JSON.parse(readFileSync(new URL('../scripts/corpus/corpus.json', import.meta.url), 'utf8')) as {
    packages: {
      name: string;
      version: string;
      models: { id: string; producer: string; opset: number; description: string }[];
    }[];
  };
  for (const pkg of manifest.packages) {
    const model = pkg.models.find((m) => m.id === id);
    if (model)
      return {
        package: `${pkg.name}@${pkg.version}`,
        producer: model.producer,
        opset: model.opset,
        description: model.description,
      };
  }
  throw new Error(`${id} is not in scripts/corpus/corpus.json`);
}
