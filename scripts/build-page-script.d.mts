/** See build-page-script.mjs. */
export function generatedModule(source: string): string;
