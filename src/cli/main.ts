import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { IdpruneError } from '../errors.ts';
import { compressCommand } from './commands/compress.ts';
import { evalCommand } from './commands/eval.ts';
import { inspectCommand } from './commands/inspect.ts';
import { fraction, nameList, positiveInteger, positiveNumber } from './options.ts';

const version: string = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version;

/** Runs an action; a user error becomes one line on stderr and exit code 1, never a bare stack trace. */
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
        process.exitCode = 70;
      }
    }
  };
}

const program = new Command()
  .name('idprune')
  .description('Compress trained ONNX models without retraining, keeping their decisions.')
  .version(version);

program
  .command('inspect')
  .description('show a model\'s size and every channel space: prunable, or why not')
  .argument('<model>', 'ONNX model')
  .option('--calib <path>', 'data of the size the model takes (.npy, .npz, or a folder of <input>.npy): the shape probe uses its sizes for free dimensions')
  .option('--json', 'print JSON')
  .action(guarded(inspectCommand));

program
  .command('compress')
  .description('prune channels chosen by interpolative decomposition and fold the correction into the next layer')
  .argument('<model>', 'ONNX model')
  .requiredOption('--calib <path>', 'calibration data: .npy, .npz, or a folder of <input>.npy')
  .requiredOption('-o, --output <path>', 'where to write the compressed model')
  .option('--target-flops <fraction>', 'keep this fraction of the FLOPs (default 0.5)', fraction)
  .option('--target-params <fraction>', 'keep this fraction of the parameters', fraction)
  .option('--tolerance <error>', 'per-space relative error to allow, instead of a size target', positiveNumber)
  .option('--keep-neurons <fraction>', 'keep this fraction of every space of single channels or neurons, instead of a size target', fraction)
  .option('--keep-heads <fraction>', 'keep this fraction of the heads of every attention block, instead of a size target', fraction)
  .addOption(new Option('--mode <mode>', 'corrected: fit each layer against the original network given the pruned upstream; plain: one pass').choices(['corrected', 'plain']).default('corrected'))
  .option('--round-to <m>', 'kept neuron counts are multiples of m, which runtimes run faster (default 8; 1 where 8 cannot meet the target, and with --keep-neurons/--keep-heads)', positiveInteger)
  .option('--min-keep <n>', 'keep at least n channels in every space', positiveInteger, 1)
  .option('--skip <names>', 'leave spaces touching these nodes or tensors intact (comma-separated, repeatable)', nameList, [])
  .option('--keep-coupled', 'leave coupled spaces (residual streams, gated branches) intact')
  .addOption(
    new Option('--allocation <how>', 'per-layer sizes by the measured output error of pruning each space alone (measured; default in corrected mode), or by the statistics alone (estimated: faster; default in plain mode)')
      .choices(['measured', 'estimated']),
  )
  .option('--mask-input <name>', 'input marking padding tokens with 0, left out of the statistics (default: attention_mask if the model has it)')
  .option('--batch-size <n>', 'samples per inference batch', positiveInteger, 64)
  .option('--eval <path>', 'held-out data to measure agreement with the original model')
  .option('--labels <path>', 'labels for --eval data (.npy of integers), to report accuracy')
  .option('--min-agreement <fraction>', 'fail, writing no model, if agreement on --eval data is lower', fraction)
  .option('--json <path>', 'write the report as JSON')
  .option('--force', 'overwrite the output file if it exists')
  .action(guarded((path: string, flags) => compressCommand(path, flags, version)));

program
  .command('eval')
  .description('compare a compressed model with the original: agreement, accuracy, deviation, size, latency')
  .argument('<original>', 'original ONNX model')
  .argument('<candidate>', 'compressed ONNX model')
  .requiredOption('--data <path>', 'input data: .npy, .npz, or a folder of <input>.npy')
  .option('--labels <path>', 'labels (.npy of integers), to report accuracy')
  .option('--batch-size <n>', 'samples per inference batch', positiveInteger, 64)
  .option('--runs <n>', 'timed runs per model for the latency ratio', positiveInteger, 20)
  .option('--json', 'print JSON')
  .action(guarded(evalCommand));

await program.parseAsync();
