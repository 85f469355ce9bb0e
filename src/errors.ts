/** An error caused by the user's input (model, data, options): printed as one clear message. */
export class IdpruneError extends Error {
  override name = 'IdpruneError';
}
