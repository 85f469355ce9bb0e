import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { COMPRESSION_OPTIONS, EVALUATE_OPTIONS, READ_OPTIONS, TARGET_OPTIONS } from '../api/option-table.ts';
import { IdpruneError } from '../errors.ts';
import { compressCommand } from './commands/compress.ts';
import { evalCommand } from './commands/eval.ts';
import { inspectCommand } from './commands/inspect.ts';
import { mergeStatsCommand, statsCommand } from './commands/stats.ts';
import { sweepCommand } from './commands/sweep.ts';
import { fraction, fractionList } from './flag-parsers.ts';
import { addFlags } from './option-flags.ts';

const version: string = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version;

/**
 * Runs an action; a user error (bad input, an unmet --min-agreement) becomes one line on stderr and
 * exit code 1, an internal error exit code 2, never a bare stack trace as the only explanation.
 */
function guarded<A extends unknown[]>(action: (...args: A) => Promise<void>) {
  return async (...args: A) => {
    try {
      await action(...args);
    } catch (err) {
      if (err instanceof IdpruneError) {
        console.error(`idprune: error: ${err.message}`);
        process.exitCode = 1;
      } else {
        console.error(`idprune: internal error: ${(err as Error)?.message ?? err}`);
        if (process.env.IDPRUNE_DEBUG) console.error((err as Error)?.stack);
        else console.error('(set IDPRUNE_DEBUG=1 to see the stack trace, and please report it)');
        process.exitCode = 2;
      }
    }
  };
}

const DATA_KINDS =
  '.npy, .npz, a folder of <input>.npy, images (a folder or quoted glob of .jpg/.png/.webp/.gif/.tiff), ' +
  '.wav files (a folder, glob or one file), or text (.txt, one sample a line; .jsonl)';

const program = new Command()
  .name('idprune')
  .description('Compress trained ONNX models without retraining, keeping their decisions.')
  .version(version);

program
  .command('inspect')
  .description("show a model's size and every channel space: prunable, or why not")
  .argument('<model>', 'ONNX model')
  .option(
    '--calib <path>',
    `data of the size the model takes (${DATA_KINDS}): the shape probe uses its sizes for free dimensions`,
  )
  .option('--json', 'print JSON')
  .action(guarded(inspectCommand));

const compress = program
  .command('compress')
  .description('prune channels chosen by interpolative decomposition and fold the correction into the next layer')
  .argument('<model>', 'ONNX model')
  .requiredOption('--calib <path>', `calibration data: ${DATA_KINDS}`)
  .requiredOption('-o, --output <path>', 'where to write the compressed model');
addFlags(compress, TARGET_OPTIONS)
  .option('--min-agreement <fraction>', 'fail, writing no model, if agreement on --eval data is lower', fraction)
  .option('--json <path>', 'write the report as JSON (- for stdout)')
  .option('--html <path>', 'write the report as a self-contained HTML page (charts of kept channels and timings)')
  .action(guarded((path: string, flags) => compressCommand(path, flags, version)));

program
  .command('sweep')
  .description(
    'the trade-off in one run: statistics once, then a compression per FLOPs target, each measured on --eval data',
  )
  .argument('<model>', 'ONNX model')
  .requiredOption('--calib <path>', `calibration data: ${DATA_KINDS}`)
  .option(
    '--targets <fractions>',
    'FLOPs fractions to compress to (comma-separated)',
    fractionList,
    [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3],
  )
  .option('--keep-models <dir>', 'write each compressed model into this folder')
  .option('--json <path>', 'write every point and its report as JSON (- for stdout)')
  .option('--html <path>', 'write the curve and the reports as a self-contained HTML page')
  .action(guarded((path: string, flags) => sweepCommand(path, flags, version)));

/** Options compress and sweep share: how to compress, and held-out data to measure the result on. */
function addCompressionOptions(command: Command): void {
  addFlags(command, COMPRESSION_OPTIONS)
    .option('--eval <path>', 'held-out data to measure agreement with the original model (any kind --calib takes)')
    .option('--labels <path>', 'labels for --eval data (.npy of integers), to report accuracy')
    .option(
      '--stats <file>',
      'statistics saved by --save-stats for this model and data: the statistics pass is skipped',
    )
    .option('--save-stats <file>', 'save the statistics, so that a later run at another budget skips their pass')
    .option('--force', 'overwrite output files that exist')
    .option('-q, --quiet', 'print nothing but errors (and JSON asked for on stdout with --json -)');
}

const { mode, skip, keepCoupled, maskInput, batchSize } = COMPRESSION_OPTIONS;
const stats = program
  .command('stats')
  .description(
    "the statistics pass alone, saved for --stats: of one shard of the calibration data, to merge with the others'",
  )
  .argument('<model>', 'ONNX model')
  .requiredOption('--calib <path>', `calibration data (or one shard of it): ${DATA_KINDS}`)
  .requiredOption('-o, --output <file>', 'where to write the statistics')
  .option('--force', 'overwrite the output file if it exists')
  .option('-q, --quiet', 'print nothing but errors');
addFlags(stats, { mode, skip, keepCoupled, maskInput, batchSize }).action(
  guarded((path: string, flags) => statsCommand(path, flags, version)),
);

program
  .command('merge-stats')
  .description(
    'add up statistics files of disjoint shards of the calibration data (made by stats on separate processes or ' +
      'machines): compress --stats reads the result with all the data as --calib',
  )
  .argument('<files...>', 'statistics files of the same model and options')
  .requiredOption('-o, --output <file>', 'where to write the merged statistics')
  .option('--force', 'overwrite the output file if it exists')
  .action(guarded(mergeStatsCommand));

const evalCommandLine = program
  .command('eval')
  .description('compare a compressed model with the original: agreement, accuracy, deviation, size, latency')
  .argument('<original>', 'original ONNX model')
  .argument('<candidate>', 'compressed ONNX model')
  .requiredOption('--data <path>', `input data: ${DATA_KINDS}`)
  .option('--labels <path>', 'labels (.npy of integers), to report accuracy');
addFlags(evalCommandLine, EVALUATE_OPTIONS).option('--json', 'print JSON').action(guarded(evalCommand));

for (const command of program.commands) {
  if (command.name() === 'compress' || command.name() === 'sweep') addCompressionOptions(command);
  if (command.name() !== 'merge-stats') addFlags(command, READ_OPTIONS);
}

await program.parseAsync();
