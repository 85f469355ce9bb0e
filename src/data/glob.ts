import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { IdpruneError } from '../errors.ts';

const WILDCARD = /[*?[]/;

export const isGlob = (path: string) => WILDCARD.test(basename(path));

/**
 * A file-name pattern as a regular expression: `*` any run of characters, `?` one, `[abc]` / `[a-z]`
 * / `[!a]` a class. As in a shell, wildcards do not match a leading dot.
 */
export function globPattern(pattern: string): RegExp {
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '*') source += '[^/]*';
    else if (c === '?') source += '[^/]';
    else if (c === '[' && pattern.indexOf(']', i + 2) > 0) {
      const end = pattern.indexOf(']', i + 2);
      const body = pattern.slice(i + 1, end);
      source += `[${body.startsWith('!') ? `^${escapeClass(body.slice(1))}` : escapeClass(body)}]`;
      i = end;
    } else source += c.replace(/[.+^${}()|\\\]]/g, '\\$&');
  }
  return new RegExp(`^(?!\\.)${source}$`);
}

const escapeClass = (body: string) => body.replace(/[\\\]^]/g, '\\$&');

/**
 * The files a pattern with wildcards in its last part matches (`images/*.png`), sorted by name.
 * Quote the pattern on the command line, or the shell expands it first.
 */
export function expandGlob(path: string, what: string): string[] {
  const folder = dirname(path);
  if (WILDCARD.test(folder))
    throw new IdpruneError(`${what} ${path}: wildcards are matched in file names only, not in folder names`);
  if (!existsSync(folder) || !statSync(folder).isDirectory())
    throw new IdpruneError(`${what} ${path}: no such folder ${folder}`);
  const pattern = globPattern(basename(path));
  const files = readdirSync(folder)
    .filter((name) => pattern.test(name))
    .sort()
    .map((name) => join(folder, name))
    .filter((file) => statSync(file).isFile());
  if (files.length === 0) throw new IdpruneError(`${what} ${path}: no file matches`);
  return files;
}
