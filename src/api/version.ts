import { readFileSync } from 'node:fs';

/**
 * idprune's version, recorded in reports and model metadata. The package root is two levels up from src/api and
 * dist/api alike.
 */
export const version: string = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version;
