import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { toNpy } from '../src/data/npy.ts';
import { makeModel, makeNode, valueInfo } from '../src/onnx/build.ts';
import { encodeModel } from '../src/onnx/model.ts';
import { convReluFlattenGemm, waveformConv } from './helpers/models.ts';
import { idprune, type Outcome } from './helpers/cli.ts';
import { floatData, maxAbsDiff, run } from './helpers/run.ts';

/** One clear line on stderr, a non-zero exit, and no stack trace. */
function assertCleanFailure(outcome: Outcome, message: RegExp): void {
  assert.notEqual(outcome.code, 0);
  assert.match(outcome.stderr, message);
  assert.doesNotMatch(outcome.stderr, /\n\s+at /, 'no stack trace');
}

/** Both models give the same first output on the held-out data (1e-6). */
async function assertSameOutputs(a: string, b: string): Promise<void> {
  const data = floatData([40, 2, 6, 6], 2);
  const [x, y] = [await run(readFileSync(a), 'x', data), await run(readFileSync(b), 'x', data)];
  assert.ok(maxAbsDiff(x.data, y.data) <= 1e-6, `${a} and ${b} differ by ${maxAbsDiff(x.data, y.data)}`);
}

let dir: string;
const path = (name: string) => join(dir, name);

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'idprune-cli-'));
  writeFileSync(path('model.onnx'), encodeModel(convReluFlattenGemm(1)));
  writeFileSync(path('calib.npy'), toNpy(floatData([64, 2, 6, 6], 1)));
  writeFileSync(path('heldout.npy'), toNpy(floatData([40, 2, 6, 6], 2)));
  writeFileSync(
    path('labels.npy'),
    toNpy({ dtype: 'int64', shape: [40], data: BigInt64Array.from({ length: 40 }, (_, i) => BigInt(i % 5)) }),
  );
  writeFileSync(path('wrong-shape.npy'), toNpy(floatData([8, 3, 6, 6], 3)));
  writeFileSync(path('wrong-type.npy'), toNpy({ dtype: 'int64', shape: [8, 2, 6, 6], data: new BigInt64Array(576) }));
  const nan = floatData([8, 2, 6, 6], 4);
  (nan.data as Float32Array)[100] = NaN;
  writeFileSync(path('nan.npy'), toNpy(nan));
  writeFileSync(path('not-onnx.onnx'), 'this is a text file, not a model');
  const relu = makeModel({
    nodes: [makeNode('Relu', ['x'], ['y'])],
    inputs: [valueInfo('x', undefined, ['N', 2, 6, 6])],
    outputs: [valueInfo('y')],
  });
  writeFileSync(path('relu.onnx'), encodeModel(relu));
  writeFileSync(path('waveform.onnx'), encodeModel(waveformConv()));
  writeFileSync(path('windows.npy'), toNpy(floatData([4, 64], 5)));
});

after(() => rmSync(dir, { recursive: true, force: true }));

/** A trained fixture of test/fixtures/. */
const fixture = (name: string) => new URL(`./fixtures/${name}`, import.meta.url).pathname;

describe('idprune compress', () => {
  it('takes a target in held-out agreement and reports the FLOPs fractions it tried', async () => {
    const out = await idprune(
      'compress',
      path('model.onnx'),
      '--calib',
      path('calib.npy'),
      '-o',
      path('agreeing.onnx'),
      '--target-agreement',
      '0.9',
      '--json',
      '-',
    );
    assert.equal(out.code, 0, out.stderr);
    const report = JSON.parse(out.stdout);
    assert.equal(report.search.metric, 'agreement');
    assert.equal(report.search.value, 0.9);
    assert.ok(report.search.tried.length >= 6);
    assert.match(report.target, /^agreement 0\.9 on held-out calibration samples: flops=/);
    assert.ok(existsSync(path('agreeing.onnx')));
  });

  it('takes a latency target, and reports the latency model and every set of sizes it timed', async () => {
    const out = await idprune(
      'compress',
      fixture('vgg.onnx'),
      '--calib',
      fixture('calib.npy'),
      '-o',
      path('fast.onnx'),
      '--mode',
      'plain',
      '--target-latency',
      '0.8',
      '--threads',
      '1',
      '--json',
      path('fast.json'),
    );
    assert.equal(out.code, 0, out.stderr);
    assert.match(
      out.stdout,
      /latency +0\.8 of [\d.]+ ms at batch 1, 1 thread \(\d+% of it in no channel space\): model at 0\.800: measured/,
    );
    const report = JSON.parse(readFileSync(path('fast.json'), 'utf8'));
    assert.equal(report.target, 'latency=0.8 at batch 1');
    assert.deepEqual([report.latencySearch.batch, report.latencySearch.threads], [1, 1]);
    assert.ok(report.latencySearch.attempts.length >= 1);
    assert.ok(existsSync(path('fast.onnx')));
  });

  it('refuses a latency target beside another target', async () => {
    const out = await idprune(
      'compress',
      path('model.onnx'),
      '--calib',
      path('calib.npy'),
      '-o',
      path('never.onnx'),
      '--target-latency',
      '0.8',
      '--target-flops',
      '0.5',
    );
    assert.notEqual(out.code, 0);
    assert.match(out.stderr, /give one of .*--target-latency/);
    assert.ok(!existsSync(path('never.onnx')));
  });

  it('writes a smaller model, the table and a JSON report', async () => {
    const out = await idprune(
      'compress',
      path('model.onnx'),
      '--calib',
      path('calib.npy'),
      '-o',
      path('small.onnx'),
      '--target-flops',
      '0.5',
      '--eval',
      path('heldout.npy'),
      '--labels',
      path('labels.npy'),
      '--json',
      path('report.json'),
    );
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, /FLOPs \(MAC\)/);
    assert.match(out.stdout, /agreement\s+\d+\.\d+% same top-1 on 40 samples/);
    assert.match(out.stdout, /accuracy\s+original/);
    assert.ok(existsSync(path('small.onnx')));
    const report = JSON.parse(readFileSync(path('report.json'), 'utf8'));
    assert.ok(report.after.flops <= 0.5 * report.before.flops);
    assert.equal(report.evaluation.samples, 40);
    assert.deepEqual(
      report.latency.map((l: { batch: number }) => l.batch),
      [1, 64],
    );
    assert.ok(report.latency.every((l: { ratio: number }) => l.ratio > 0));
  });

  it('compresses a text classifier from an .npz of token ids and attention masks, removing heads', async () => {
    const out = await idprune(
      'compress',
      fixture('text.onnx'),
      '--calib',
      fixture('text_calib.npz'),
      '-o',
      path('text-small.onnx'),
      '--keep-heads',
      '0.5',
      '--mode',
      'plain',
      '--eval',
      fixture('text_heldout.npz'),
      '--labels',
      fixture('text_heldout_labels.npy'),
      '--json',
      path('text-report.json'),
    );
    assert.equal(out.code, 0, out.stderr);
    const report = JSON.parse(readFileSync(path('text-report.json'), 'utf8'));
    const heads = report.spaces.filter((s: { channels: number; kept: number }) => s.channels === 4);
    assert.equal(heads.length, 2);
    assert.ok(heads.every((s: { kept: number }) => s.kept === 2));
    assert.equal(report.evaluation.samples, 604);
    assert.ok(report.evaluation.agreement >= 0.9, `agreement ${report.evaluation.agreement}`);
  });

  it('says under the table that the plain mode refits nothing, and the default mode does not', async () => {
    const plain = await idprune(
      'compress',
      path('model.onnx'),
      '--calib',
      path('calib.npy'),
      '-o',
      path('plain.onnx'),
      '--mode',
      'plain',
    );
    assert.equal(plain.code, 0, plain.stderr);
    assert.match(plain.stdout, /mode plain: no layer was refitted\..*Pass --eval to measure the agreement\./);
    const corrected = await idprune(
      'compress',
      path('model.onnx'),
      '--calib',
      path('calib.npy'),
      '-o',
      path('corrected.onnx'),
    );
    assert.doesNotMatch(corrected.stdout, /no layer was refitted/);
  });

  it('prints nothing with --quiet, and only the JSON report on stdout with --json -', async () => {
    const quiet = await idprune(
      'compress',
      path('model.onnx'),
      '--calib',
      path('calib.npy'),
      '-o',
      path('quiet.onnx'),
      '--quiet',
    );
    assert.equal(quiet.code, 0, quiet.stderr);
    assert.deepEqual([quiet.stdout, quiet.stderr], ['', '']);
    assert.ok(existsSync(path('quiet.onnx')));
    const json = await idprune(
      'compress',
      path('model.onnx'),
      '--calib',
      path('calib.npy'),
      '-o',
      path('json.onnx'),
      '--json',
      '-',
    );
    assert.ok(JSON.parse(json.stdout).after.flops > 0);
    assert.match(json.stderr, /FLOPs \(MAC\)/);
  });

  it('refuses a file that is not ONNX', async () => {
    assertCleanFailure(
      await idprune('compress', path('not-onnx.onnx'), '--calib', path('calib.npy'), '-o', path('o1.onnx')),
      /not-onnx.onnx is not an ONNX model/,
    );
  });

  it('refuses a model with no prunable space', async () => {
    assertCleanFailure(
      await idprune('compress', path('relu.onnx'), '--calib', path('calib.npy'), '-o', path('o2.onnx')),
      /no prunable channel space/,
    );
  });

  it('refuses data of the wrong shape', async () => {
    assertCleanFailure(
      await idprune('compress', path('model.onnx'), '--calib', path('wrong-shape.npy'), '-o', path('o3.onnx')),
      /shape \[8, 3, 6, 6\], but the model expects \[\?, 2, 6, 6\]/,
    );
  });

  it('refuses data of the wrong type', async () => {
    assertCleanFailure(
      await idprune('compress', path('model.onnx'), '--calib', path('wrong-type.npy'), '-o', path('o4.onnx')),
      /data type int64, but the model expects float32/,
    );
  });

  it('refuses NaN in the data', async () => {
    assertCleanFailure(
      await idprune('compress', path('model.onnx'), '--calib', path('nan.npy'), '-o', path('o5.onnx')),
      /contains NaN \(sample 1\)/,
    );
  });

  it('refuses an unknown option', async () => {
    assertCleanFailure(
      await idprune(
        'compress',
        path('model.onnx'),
        '--calib',
        path('calib.npy'),
        '-o',
        path('o6.onnx'),
        '--frobnicate',
      ),
      /unknown option '--frobnicate'/,
    );
  });

  it('refuses an impossible target', async () => {
    assertCleanFailure(
      await idprune(
        'compress',
        path('model.onnx'),
        '--calib',
        path('calib.npy'),
        '-o',
        path('o7.onnx'),
        '--target-flops',
        '0.001',
      ),
      /not reachable/,
    );
  });

  it('refuses a target outside (0, 1]', async () => {
    assertCleanFailure(
      await idprune(
        'compress',
        path('model.onnx'),
        '--calib',
        path('calib.npy'),
        '-o',
        path('o8.onnx'),
        '--target-flops',
        '1.5',
      ),
      /expected a number in \(0, 1\]/,
    );
  });

  it('refuses a missing calibration file', async () => {
    assertCleanFailure(
      await idprune('compress', path('model.onnx'), '--calib', path('missing.npy'), '-o', path('o9.onnx')),
      /missing.npy: no such file/,
    );
  });

  it('writes no model when agreement is below --min-agreement', async () => {
    const out = await idprune(
      'compress',
      path('model.onnx'),
      '--calib',
      path('calib.npy'),
      '-o',
      path('rejected.onnx'),
      '--target-flops',
      '0.3',
      '--eval',
      path('heldout.npy'),
      '--min-agreement',
      '1',
    );
    assertCleanFailure(out, /agreement .* is below --min-agreement 100.00%; no model written/);
    assert.ok(!existsSync(path('rejected.onnx')));
  });

  it('never overwrites the input model', async () => {
    const before = readFileSync(path('model.onnx'));
    assertCleanFailure(
      await idprune('compress', path('model.onnx'), '--calib', path('calib.npy'), '-o', path('model.onnx'), '--force'),
      /is the input model/,
    );
    assert.deepEqual(readFileSync(path('model.onnx')), before);
  });

  it('does not overwrite an existing file without --force', async () => {
    writeFileSync(path('taken.onnx'), 'keep me');
    assertCleanFailure(
      await idprune('compress', path('model.onnx'), '--calib', path('calib.npy'), '-o', path('taken.onnx')),
      /exists; pass --force/,
    );
    assert.equal(readFileSync(path('taken.onnx'), 'utf8'), 'keep me');
  });
});

describe('idprune compress with saved statistics', () => {
  it(
    'at another budget gives the channels of a run that collected them itself, ' + 'without the statistics pass',
    async () => {
      const saving = await idprune(
        'compress',
        path('model.onnx'),
        '--calib',
        path('calib.npy'),
        '-o',
        path('s5.onnx'),
        '--target-flops',
        '0.5',
        '--save-stats',
        path('model.stats'),
      );
      assert.equal(saving.code, 0, saving.stderr);
      const reused = await idprune(
        'compress',
        path('model.onnx'),
        '--calib',
        path('calib.npy'),
        '-o',
        path('s7.onnx'),
        '--target-flops',
        '0.7',
        '--stats',
        path('model.stats'),
        '--json',
        path('s7.json'),
      );
      assert.equal(reused.code, 0, reused.stderr);
      const fresh = await idprune(
        'compress',
        path('model.onnx'),
        '--calib',
        path('calib.npy'),
        '-o',
        path('f7.onnx'),
        '--target-flops',
        '0.7',
        '--json',
        path('f7.json'),
      );
      const kept = (file: string) =>
        JSON.parse(readFileSync(path(file), 'utf8')).spaces.map((s: { kept: number }) => s.kept);
      assert.deepEqual(kept('s7.json'), kept('f7.json'));
      assert.equal(JSON.parse(readFileSync(path('s7.json'), 'utf8')).timingsSeconds.statistics, undefined);
      assert.equal(fresh.code, 0);
      await assertSameOutputs(path('s7.onnx'), path('f7.onnx'));
    },
  );

  it('and sweep --keep-models give the model a fresh compress writes at the same target', async () => {
    const swept = await idprune(
      'sweep',
      path('model.onnx'),
      '--calib',
      path('calib.npy'),
      '--targets',
      '0.6',
      '--keep-models',
      path('swept'),
    );
    assert.equal(swept.code, 0, swept.stderr);
    const fresh = await idprune(
      'compress',
      path('model.onnx'),
      '--calib',
      path('calib.npy'),
      '-o',
      path('f6.onnx'),
      '--target-flops',
      '0.6',
    );
    assert.equal(fresh.code, 0, fresh.stderr);
    await assertSameOutputs(path('swept/model-flops0.6.onnx'), path('f6.onnx'));
  });

  it('refuses statistics made for another model', async () => {
    await idprune(
      'compress',
      path('model.onnx'),
      '--calib',
      path('calib.npy'),
      '-o',
      path('s-other.onnx'),
      '--target-flops',
      '0.5',
      '--save-stats',
      path('mine.stats'),
    );
    writeFileSync(path('other.onnx'), encodeModel(convReluFlattenGemm(0)));
    assertCleanFailure(
      await idprune(
        'compress',
        path('other.onnx'),
        '--calib',
        path('calib.npy'),
        '-o',
        path('o-other.onnx'),
        '--stats',
        path('mine.stats'),
      ),
      /mine\.stats was made for another model/,
    );
    assert.ok(!existsSync(path('o-other.onnx')));
  });
});

describe('idprune stats and merge-stats', () => {
  it('statistics of two halves of the data, merged, compress as the whole data does', async () => {
    const calib = floatData([64, 2, 6, 6], 1);
    const half = (i: number) => ({
      ...calib,
      shape: [32, 2, 6, 6],
      data: calib.data.slice(i * 32 * 72, (i + 1) * 32 * 72),
    });
    writeFileSync(path('half0.npy'), toNpy(half(0)));
    writeFileSync(path('half1.npy'), toNpy(half(1)));
    for (const i of [0, 1]) {
      const shard = await idprune(
        'stats',
        path('model.onnx'),
        '--calib',
        path(`half${i}.npy`),
        '-o',
        path(`half${i}.stats`),
      );
      assert.equal(shard.code, 0, shard.stderr);
    }
    const merged = await idprune('merge-stats', path('half0.stats'), path('half1.stats'), '-o', path('halves.stats'));
    assert.equal(merged.code, 0, merged.stderr);
    assert.match(merged.stdout, /statistics of 64 samples from 2 files/);
    const args = ['--calib', path('calib.npy'), '--target-flops', '0.5', '--mode', 'plain'];
    const fromShards = await idprune(
      'compress',
      path('model.onnx'),
      ...args,
      '-o',
      path('m-shards.onnx'),
      '--stats',
      path('halves.stats'),
    );
    assert.equal(fromShards.code, 0, fromShards.stderr);
    const whole = await idprune('compress', path('model.onnx'), ...args, '-o', path('m-whole.onnx'));
    assert.equal(whole.code, 0, whole.stderr);
    await assertSameOutputs(path('m-shards.onnx'), path('m-whole.onnx'));
  });

  it('refuses to merge a file that is not a statistics file', async () => {
    assertCleanFailure(
      await idprune('merge-stats', path('calib.npy'), path('calib.npy'), '-o', path('bad.stats')),
      /calib\.npy is not an idprune statistics file/,
    );
    assert.ok(!existsSync(path('bad.stats')));
  });
});

describe('idprune sweep', () => {
  it('measures one compression per target from one statistics pass, keeping the models when asked', async () => {
    const out = await idprune(
      'sweep',
      path('model.onnx'),
      '--calib',
      path('calib.npy'),
      '--eval',
      path('heldout.npy'),
      '--targets',
      '0.8,0.5',
      '--keep-models',
      path('kept'),
      '--json',
      '-',
    );
    assert.equal(out.code, 0, out.stderr);
    const sweep = JSON.parse(out.stdout);
    assert.deepEqual(
      sweep.points.map((p: { target: number }) => p.target),
      [0.8, 0.5],
    );
    assert.ok(
      sweep.points[0].flops <= 0.8 && sweep.points[1].flops <= 0.5 && sweep.points[1].flops < sweep.points[0].flops,
    );
    assert.ok(
      sweep.points.every(
        (p: { agreement: number; latencyRatio: number }) => p.agreement >= 0 && p.agreement <= 1 && p.latencyRatio > 0,
      ),
    );
    assert.equal(sweep.prepareSeconds.statistics > 0, true);
    assert.ok(existsSync(path('kept/model-flops0.8.onnx')) && existsSync(path('kept/model-flops0.5.onnx')));
  });

  it('with --estimate, gives each target its agreement on held-out calibration samples', async () => {
    const out = await idprune(
      'sweep',
      path('model.onnx'),
      '--calib',
      path('calib.npy'),
      '--targets',
      '0.8,0.5',
      '--estimate',
      '--json',
      '-',
    );
    assert.equal(out.code, 0, out.stderr);
    const sweep = JSON.parse(out.stdout);
    for (const [i, p] of sweep.points.entries()) {
      assert.ok(p.estimated >= 0 && p.estimated <= 1, `target ${p.target}`);
      assert.equal(p.estimated, sweep.reports[i].estimate.agreement);
    }
  });

  it('refuses a target outside (0, 1]', async () => {
    assertCleanFailure(
      await idprune('sweep', path('model.onnx'), '--calib', path('calib.npy'), '--targets', '0.5,1.5'),
      /targets/,
    );
  });
});

describe('idprune inspect', () => {
  it('lists channel spaces with their status as JSON', async () => {
    const out = await idprune('inspect', path('model.onnx'), '--json');
    assert.equal(out.code, 0, out.stderr);
    const summary = JSON.parse(out.stdout);
    // Conv: 6 channels × 6×6 positions × (2 inputs × 3×3 kernel); Gemm: 5 outputs × 216 features.
    assert.equal(summary.flops, 6 * 36 * 2 * 9 + 5 * 216);
    assert.deepEqual(
      summary.spaces.map((s: { prunable: boolean }) => s.prunable),
      [true, false],
    );
    assert.equal(summary.prunableFlopsShare, 1, 'both layers scale with the conv channels');
    assert.match(summary.spaces[1].reason, /model output/);
  });

  it('prints a table', async () => {
    const out = await idprune('inspect', path('model.onnx'));
    assert.match(out.stdout, /space\s+producers\s+consumers\s+channels\s+FLOPs\s+status/);
  });

  it('explains that a model with a free input length needs data when the probe cannot guess it', async () => {
    const out = await idprune('inspect', path('waveform.onnx'));
    assertCleanFailure(out, /Input "x" \[\?, \?\] has free dimensions.*--calib/);
    assert.equal(out.stderr.trim().split('\n').length, 1, "one line, with none of ONNX Runtime's own log lines");
  });

  it('probes a free input length at the size of the --calib data', async () => {
    const out = await idprune('inspect', path('waveform.onnx'), '--calib', path('windows.npy'), '--json');
    assert.equal(out.code, 0, out.stderr);
    assert.equal(JSON.parse(out.stdout).spaces[0].prunable, true);
  });
});

describe('idprune eval', () => {
  it('reports agreement, accuracy, deviation, size and latency', async () => {
    await idprune(
      'compress',
      path('model.onnx'),
      '--calib',
      path('calib.npy'),
      '-o',
      path('eval-small.onnx'),
      '--target-flops',
      '0.6',
    );
    const out = await idprune(
      'eval',
      path('model.onnx'),
      path('eval-small.onnx'),
      '--data',
      path('heldout.npy'),
      '--labels',
      path('labels.npy'),
      '--json',
      '--runs',
      '3',
    );
    assert.equal(out.code, 0, out.stderr);
    const result = JSON.parse(out.stdout);
    assert.equal(result.samples, 40);
    assert.ok(result.agreement >= 0 && result.agreement <= 1);
    assert.ok(result.accuracy.original >= 0);
    assert.ok(result.candidate.flops < result.original.flops);
    assert.ok(result.latency[0].ratio > 0 && result.latency[0].batch === 1);
  });

  it('agrees fully when a model is compared with itself', async () => {
    const out = await idprune(
      'eval',
      path('model.onnx'),
      path('model.onnx'),
      '--data',
      path('heldout.npy'),
      '--json',
      '--runs',
      '2',
    );
    const result = JSON.parse(out.stdout);
    assert.equal(result.agreement, 1);
    assert.equal(result.maxAbsDifference, 0);
  });
});
