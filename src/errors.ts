/** An error caused by the user's input (model, data, options): printed as one clear message. */
export class IdpruneError extends Error {
  override name = 'IdpruneError';
}

/** A size target that pruning every space to its smallest allowed size still does not meet. */
export class UnreachableTargetError extends IdpruneError {
  override name = 'UnreachableTargetError';
}

/**
 * Another library's message (a JSON parser's, a decoder's) on one line: each run of whitespace,
 * newlines too, as one space.
 */
export function oneLine(message: string): string {
  return message.replace(/\s+/g, ' ').trim();
}
