// The source folders import only downward, in the order of docs/architecture.md's layers.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, it } from 'node:test';

const SRC = new URL('../src/', import.meta.url).pathname;
/** Lowest first: a folder may import from folders before it, and from the root files (errors.ts, progress.ts). */
const LAYERS = ['linalg', 'onnx', 'data', 'graph', 'calibrate', 'compress', 'evaluate', 'report', 'io', 'api', 'cli'];

function sources(folder: string): string[] {
  return readdirSync(folder).flatMap((name) => {
    const path = join(folder, name);
    return statSync(path).isDirectory() ? sources(path) : name.endsWith('.ts') ? [path] : [];
  });
}

const layerOf = (file: string) => relative(SRC, file).split('/')[0];

describe('the source layers', () => {
  it('import nothing from a layer above their own', () => {
    const upward: string[] = [];
    for (const file of sources(SRC)) {
      const from = layerOf(file);
      if (!LAYERS.includes(from)) continue;
      for (const [, spec] of readFileSync(file, 'utf8').matchAll(/(?:from|import)\s+['"](\.{1,2}\/[^'"]+)['"]/g)) {
        const to = layerOf(normalize(join(dirname(file), spec)));
        if (LAYERS.includes(to) && LAYERS.indexOf(to) > LAYERS.indexOf(from))
          upward.push(`${relative(SRC, file)} → ${spec}`);
      }
    }
    assert.deepEqual(upward, []);
  });

  it('name every folder of src/', () => {
    const folders = readdirSync(SRC).filter((name) => statSync(join(SRC, name)).isDirectory());
    assert.deepEqual(
      folders.filter((f) => !LAYERS.includes(f)),
      [],
    );
  });

  it('have no cycle of imports between files', () => {
    const imports = new Map(
      sources(SRC).map((file) => [
        file,
        [...readFileSync(file, 'utf8').matchAll(/(?:from|import)\s+['"](\.{1,2}\/[^'"]+)['"]/g)].map(([, spec]) =>
          normalize(join(dirname(file), spec)),
        ),
      ]),
    );
    const done = new Set<string>();
    const cycles: string[] = [];
    const visit = (file: string, path: string[]) => {
      if (path.includes(file)) {
        cycles.push([...path.slice(path.indexOf(file)), file].map((f) => relative(SRC, f)).join(' → '));
        return;
      }
      if (done.has(file)) return;
      for (const next of imports.get(file) ?? []) visit(next, [...path, file]);
      done.add(file);
    };
    for (const file of imports.keys()) visit(file, []);
    assert.deepEqual(cycles, []);
  });
});
