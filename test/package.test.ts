import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { toNpy } from '../src/data/npy.ts';
import { encodeModel } from '../src/onnx/model.ts';
import { compress, evaluate, IdpruneError, inspect } from '../src/index.ts';
import { convReluFlattenGemm } from './helpers/models.ts';
import { floatData } from './helpers/run.ts';

const repo = fileURLToPath(new URL('..', import.meta.url));
const fixture = (name: string) => join(repo, 'test', 'fixtures', name);

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<Outcome> {
  return new Promise((resolve) => {
    execFile(
      command,
      args,
      { cwd, env: { ...process.env, npm_config_update_notifier: 'false', ...env }, maxBuffer: 64 << 20 },
      (error, stdout, stderr) => {
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
      },
    );
  });
}

function succeeded(outcome: Outcome, what: string): Outcome {
  assert.equal(outcome.code, 0, `${what} failed:\n${outcome.stderr}`);
  return outcome;
}

describe('the npm package, installed into an empty project', { timeout: 300_000 }, () => {
  let work: string;
  let project: string;
  let packed: string[];
  // `npx --no` runs the project's own bin, never a package of that name from the registry; `--` keeps --help and
  // --version from npx.
  const idprune = (...args: string[]) => run('npx', ['--no', '--', 'idprune', ...args], project);

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'idprune-package-'));
    // The repository's .npmrc ignores scripts, `prepare` among them: dist/ is built first.
    succeeded(await run('npm', ['run', 'build'], repo), 'npm run build');
    succeeded(await run('npm', ['pack', '--pack-destination', work], repo), 'npm pack');
    const tarball = join(work, readdirSync(work).find((f) => f.endsWith('.tgz'))!);
    packed = succeeded(await run('tar', ['-tzf', tarball], work), 'tar')
      .stdout.split('\n')
      .filter(Boolean);
    project = join(work, 'project');
    mkdirSync(project);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    const install = await run('npm', ['install', tarball, '--prefer-offline', '--no-audit', '--no-fund'], project, {
      ONNXRUNTIME_NODE_INSTALL: 'skip',
    });
    succeeded(install, 'npm install');
  });

  after(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('ships the compiled library, its types and the command', () => {
    for (const file of [
      'package/dist/index.js',
      'package/dist/index.d.ts',
      'package/dist/cli/main.js',
      'package/bin/idprune.js',
      'package/package.json',
      'package/README.md',
    ]) {
      assert.ok(packed.includes(file), `${file} is in the tarball`);
    }
  });

  it('ships no sources, tests or TypeScript files other than declarations', () => {
    assert.deepEqual(
      packed.filter((f) => /^package\/(src|test|bench|scripts)\//.test(f)),
      [],
    );
    assert.deepEqual(
      packed.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts')),
      [],
    );
  });

  it('needs no TypeScript loader: tsx is not installed with it', () => {
    const resolveFromProject = createRequire(join(project, 'package.json')).resolve;
    assert.throws(() => resolveFromProject('tsx'), /Cannot find module/);
    const installed = JSON.parse(readFileSync(join(project, 'node_modules', 'idprune', 'package.json'), 'utf8'));
    assert.equal(installed.dependencies.tsx, undefined);
  });

  it('runs `idprune --help`, listing the commands', async () => {
    const out = succeeded(await idprune('--help'), 'idprune --help');
    for (const command of ['inspect', 'compress', 'eval'])
      assert.match(out.stdout, new RegExp(`^\\s+${command}\\b`, 'm'));
  });

  it('reports the version of its package.json', async () => {
    const version = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')).version;
    assert.equal(succeeded(await idprune('--version'), 'idprune --version').stdout.trim(), version);
  });

  it('compresses a model through the command to the FLOPs target', async () => {
    succeeded(
      await idprune(
        'compress',
        fixture('mlp.onnx'),
        '--calib',
        fixture('calib.npy'),
        '-o',
        'out.onnx',
        '--target-flops',
        '0.5',
        '--mode',
        'plain',
        '--json',
        'report.json',
      ),
      'idprune compress',
    );
    const report = JSON.parse(readFileSync(join(project, 'report.json'), 'utf8'));
    assert.ok(
      report.after.flops <= 0.5 * report.before.flops,
      `${report.after.flops} of ${report.before.flops} FLOPs kept`,
    );
    assert.ok(statSync(join(project, 'out.onnx')).size < statSync(fixture('mlp.onnx')).size);
  });

  it('compresses a model from a plain ES module importing the package', async () => {
    writeFileSync(
      join(project, 'app.mjs'),
      `import { readFileSync } from 'node:fs';
import { compress, inspect } from 'idprune';
const [modelPath, calibPath] = process.argv.slice(2);
const { model, report } = await compress(readFileSync(modelPath), calibPath, { targetFlops: 0.5, mode: 'plain' });
const reread = await inspect(model);
console.log(JSON.stringify({
  bytes: model instanceof Uint8Array,
  before: report.before.flops,
  after: report.after.flops,
  reread: reread.flops,
}));
`,
    );
    const out = succeeded(
      await run(process.execPath, ['app.mjs', fixture('mlp.onnx'), fixture('calib.npy')], project),
      'node app.mjs',
    );
    const result = JSON.parse(out.stdout);
    assert.equal(result.bytes, true);
    assert.ok(result.after <= 0.5 * result.before, `${result.after} of ${result.before} FLOPs kept`);
    assert.equal(result.reread, result.after, 'the returned bytes parse as the compressed model');
  });

  it('keeps its internal modules private', async () => {
    writeFileSync(join(project, 'internal.mjs'), `await import('idprune/dist/cli/files.js');\n`);
    const out = await run(process.execPath, ['internal.mjs'], project);
    assert.notEqual(out.code, 0);
    assert.match(out.stderr, /ERR_PACKAGE_PATH_NOT_EXPORTED/);
  });

  it('gives a TypeScript project the types of its API', async () => {
    writeFileSync(
      join(project, 'check.ts'),
      `import { compress, type CompressResult } from 'idprune';
export const result: Promise<CompressResult> = compress(new Uint8Array(), 'calib.npy', {
  targetFlops: 0.5,
  mode: 'plain',
});
// @ts-expect-error: a fraction is a number, not a string
compress('model.onnx', 'calib.npy', { targetFlops: '0.5' });
`,
    );
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          target: 'ES2022',
          strict: true,
          noEmit: true,
          types: [],
        },
        files: ['check.ts'],
      }),
    );
    const tsc = join(repo, 'node_modules', 'typescript', 'bin', 'tsc');
    succeeded(await run(process.execPath, [tsc, '-p', project], project), 'tsc');
  });
});

describe('the library API', () => {
  let dir: string;
  const path = (name: string) => join(dir, name);
  const model = encodeModel(convReluFlattenGemm(1));
  const calib = floatData([64, 2, 6, 6], 1);

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'idprune-api-'));
    writeFileSync(path('model.onnx'), model);
    writeFileSync(path('calib.npy'), toNpy(calib));
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  it('inspects a model given as bytes as it does one given as a path', async () => {
    const fromBytes = await inspect(model);
    assert.deepEqual(fromBytes, await inspect(path('model.onnx')));
    assert.ok(fromBytes.spaces.some((s) => s.prunable));
  });

  it('compresses with calibration samples held in memory, as from a .npy file', async () => {
    const options = { targetFlops: 0.6, mode: 'plain' } as const;
    const fromMemory = await compress(model, { data: calib.data as Float32Array, shape: calib.shape }, options);
    const fromFile = await compress(path('model.onnx'), path('calib.npy'), options);
    assert.ok(fromMemory.report.after.flops <= 0.6 * fromMemory.report.before.flops);
    assert.deepEqual(fromMemory.report.spaces, fromFile.report.spaces);
  });

  it('tells a progress callback where each pass over the data stands', async () => {
    const seen: string[] = [];
    let last = 0;
    const progress = {
      begin: (label: string, total: number) => seen.push(`${label} ${total}`),
      advance: (done: number) => {
        last = done;
      },
      end: () => {},
    };
    await compress(model, path('calib.npy'), { targetFlops: 0.6, progress });
    assert.ok(seen.includes('statistics 64'), seen.join(', '));
    assert.ok(
      seen.some((s) => s.startsWith('correction ')),
      seen.join(', '),
    );
    assert.equal(last, 64);
  });

  it('finds a model identical to itself: full agreement, no deviation', async () => {
    const result = await evaluate(model, path('model.onnx'), path('calib.npy'), { runs: 1 });
    assert.equal(result.agreement, 1);
    assert.equal(result.maxAbsDifference, 0);
    assert.deepEqual(result.candidate, result.original);
  });

  it('rejects an option out of range with an IdpruneError', async () => {
    await assert.rejects(
      compress(model, path('calib.npy'), { targetFlops: 1.5 }),
      (err) => err instanceof IdpruneError && /targetFlops: expected a number in \(0, 1\]/.test(err.message),
    );
  });

  it('rejects in-memory data whose values do not fill its shape', async () => {
    await assert.rejects(
      compress(model, { data: new Float32Array(10), shape: [4, 2, 6, 6] }),
      (err) => err instanceof IdpruneError && /10 values for shape \[4, 2, 6, 6\]/.test(err.message),
    );
  });
});
