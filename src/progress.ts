/** Reports progress of a pass over data; the CLI draws a bar, the library default is silent. */
export interface Progress {
  begin(label: string, total: number): void;
  advance(done: number): void;
  end(): void;
}

export const silentProgress: Progress = { begin() {}, advance() {}, end() {} };
