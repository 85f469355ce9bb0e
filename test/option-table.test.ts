// The options declared once (src/api/option-table.ts): the command line's flags, the library's
// checks and the defaults all come from the same tables.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  COMPRESSION_OPTIONS,
  checkOptions,
  type Domain,
  EVALUATE_OPTIONS,
  READ_OPTIONS,
  TARGET_OPTIONS,
  withDefaults,
} from '../src/api/option-table.ts';
import { IdpruneError } from '../src/errors.ts';
import { compress, evaluate, inspect } from '../src/index.ts';
import { encodeModel } from '../src/onnx/model.ts';
import { convReluFlattenGemm } from './helpers/models.ts';
import { floatData } from './helpers/run.ts';
import { idprune } from './helpers/cli.ts';

const kebab = (name: string) => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

const COMMANDS: [string, Record<string, { domain: Domain }>[]][] = [
  ['compress', [TARGET_OPTIONS, COMPRESSION_OPTIONS, READ_OPTIONS]],
  ['sweep', [COMPRESSION_OPTIONS, READ_OPTIONS]],
  ['eval', [EVALUATE_OPTIONS, READ_OPTIONS]],
  ['inspect', [READ_OPTIONS]],
];

/** A value outside each domain, and one inside. */
function samples(domain: Domain): { outside: unknown[]; inside: unknown } {
  switch (domain.kind) {
    case 'fraction':
      return { outside: [0, 1.5, '0.5'], inside: 0.25 };
    case 'positive':
      return { outside: [0, -1, Number.POSITIVE_INFINITY], inside: 0.01 };
    case 'count':
      return { outside: [0, 2.5, '8'], inside: 3 };
    case 'choice':
      return { outside: ['nonsense', 1], inside: domain.choices[0] };
    case 'switch':
      return { outside: ['yes', 1], inside: true };
    case 'name':
      return { outside: [5, ['a']], inside: 'attention_mask' };
    case 'names':
      return { outside: ['a', [1]], inside: ['a', 'b'] };
    case 'numbers':
      return { outside: [0.5, [], ['1']], inside: [0.485, 0.456, 0.406] };
    case 'scale':
      return { outside: [0, Number.NaN, '1/255'], inside: 1 / 255 };
    case 'size':
      return { outside: [[224, 224, 3], [0], 224], inside: [224, 160] };
  }
}

describe('the option tables', () => {
  for (const [command, tables] of COMMANDS) {
    it(`give every flag of ${command} that the library takes as an option`, async () => {
      const { stdout } = await idprune(command, '--help');
      for (const table of tables)
        for (const name of Object.keys(table)) assert.match(stdout, new RegExp(`--${kebab(name)}\\b`), name);
    });
  }

  it('make the library refuse each option outside its domain, naming it, and take it inside', () => {
    for (const table of [TARGET_OPTIONS, COMPRESSION_OPTIONS, EVALUATE_OPTIONS, READ_OPTIONS]) {
      for (const [name, spec] of Object.entries(table)) {
        const { outside, inside } = samples(spec.domain);
        for (const value of outside) {
          assert.throws(
            () => checkOptions({ [name]: value }),
            (err) => err instanceof IdpruneError && err.message.startsWith(`option ${name}: expected `),
            `${name} = ${JSON.stringify(value)}`,
          );
        }
        assert.doesNotThrow(() => checkOptions({ [name]: inside }), name);
      }
    }
  });

  it('make compress, inspect and evaluate refuse a reading option outside its domain', async () => {
    const model = encodeModel(convReluFlattenGemm(1));
    const data = { x: floatData([8, 2, 6, 6], 1) };
    const refused = (err: unknown) => err instanceof IdpruneError && /^option sampleRate: expected/.test(err.message);
    await assert.rejects(compress(model, data, { read: { sampleRate: 0 } }), refused);
    await assert.rejects(inspect(model, { read: { sampleRate: 0 } }), refused);
    await assert.rejects(evaluate(model, model, data, { read: { sampleRate: 0 } }), refused);
  });

  it('make the library refuse options that are not an object, as an IdpruneError', async () => {
    const model = encodeModel(convReluFlattenGemm(1));
    const data = { x: floatData([8, 2, 6, 6], 1) };
    const refused = (what: string) => (err: unknown) =>
      err instanceof IdpruneError && err.message === `${what} must be an object of named options`;
    await assert.rejects(compress(model, data, null as never), refused('options'));
    await assert.rejects(compress(model, data, { read: 'imagenet' as never }), refused('options.read'));
    await assert.rejects(evaluate(model, model, data, [] as never), refused('options'));
  });

  it('make the command line refuse a value outside the domain as the library does', async () => {
    const outcome = await idprune('compress', 'model.onnx', '--calib', 'x.npy', '-o', 'y.onnx', '--round-to', '2.5');
    assert.notEqual(outcome.code, 0);
    assert.match(outcome.stderr, /--round-to <m>.*expected a positive integer/);
  });

  it('fill the options left unset with the defaults the command line shows, and keep the ones set', () => {
    const options = withDefaults(COMPRESSION_OPTIONS, { mode: 'plain' as const, roundTo: 4 });
    assert.deepEqual(options, {
      mode: 'plain',
      roundTo: 4,
      metric: 'auto',
      minKeep: 1,
      skip: [],
      latencyBatch: 1,
      runtime: 'node',
      batchSize: 64,
      augment: 'auto',
    });
    options.skip.push('conv1');
    assert.deepEqual(withDefaults(COMPRESSION_OPTIONS, {}).skip, [], 'the default list is not shared');
  });
});
