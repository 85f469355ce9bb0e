// Shared by the benchmark runners: their command-line options and the commit they measure.
import { execFileSync } from 'node:child_process';

/** The value after `name` in `args`, if given. */
export function option(args: string[], name: string): string | undefined {
  const at = args.indexOf(name);
  if (at < 0) return undefined;
  if (at + 1 >= args.length) throw new Error(`${name} needs a value`);
  return args[at + 1];
}

/** The commit the library is at, "+changes" where src/ differs from it. */
export function commit(): string | undefined {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { encoding: 'utf8' }).trim() !== '';
    return dirty ? `${head}+changes` : head;
  } catch {
    return undefined;
  }
}
