import { AUGMENTS } from '../calibrate/mirror.ts';
import { OUTPUT_METRICS } from '../compress/output-error.ts';
import { IdpruneError } from '../errors.ts';

type Check = (x: number) => boolean;
const fraction: Check = (x) => x > 0 && x <= 1;
const positive: Check = (x) => x > 0 && Number.isFinite(x);
const count: Check = (x) => Number.isInteger(x) && x >= 1;

const RULES: Record<string, [Check, string]> = {
  targetFlops: [fraction, 'a number in (0, 1]'],
  targetParams: [fraction, 'a number in (0, 1]'],
  keepNeurons: [fraction, 'a number in (0, 1]'],
  keepHeads: [fraction, 'a number in (0, 1]'],
  targetAgreement: [fraction, 'a number in (0, 1]'],
  targetCosine: [fraction, 'a number in (0, 1]'],
  tolerance: [positive, 'a positive number'],
  roundTo: [count, 'a positive integer'],
  minKeep: [count, 'a positive integer'],
  batchSize: [count, 'a positive integer'],
  runs: [count, 'a positive integer'],
};

const CHOICES: Record<string, readonly string[]> = {
  mode: ['corrected', 'plain'],
  allocation: ['measured', 'estimated'],
  metric: OUTPUT_METRICS,
  augment: AUGMENTS,
};

/** Checks the library's options as the command line's parser checks its flags. */
export function checkOptions(options: object): void {
  for (const [name, value] of Object.entries(options)) {
    if (value === undefined) continue;
    const rule = RULES[name];
    if (rule && !(typeof value === 'number' && rule[0](value)))
      throw new IdpruneError(`option ${name}: expected ${rule[1]}, got ${String(value)}`);
    const choices = CHOICES[name];
    if (choices && !choices.includes(value))
      throw new IdpruneError(`option ${name}: expected one of ${choices.join(', ')}, got ${String(value)}`);
  }
}
