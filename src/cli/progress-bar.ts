import cliProgress from 'cli-progress';
import { type Progress, silentProgress } from '../progress.ts';

const ELAPSED_AND_LEFT = '{duration_formatted} elapsed, {eta_formatted} left';

/** A progress bar on stderr when it is a terminal and not `quiet`; nothing otherwise (logs stay clean). */
export function terminalProgress(quiet = false): Progress {
  if (!process.stderr.isTTY || quiet) return silentProgress;
  let bar: cliProgress.SingleBar | undefined;
  return {
    begin(label, total) {
      bar = new cliProgress.SingleBar(
        {
          stream: process.stderr,
          format: `${label.padEnd(16)} [{bar}] {value}/{total} samples  ${ELAPSED_AND_LEFT}`,
          hideCursor: true,
          clearOnComplete: true,
        },
        cliProgress.Presets.shades_classic,
      );
      bar.start(total, 0);
    },
    advance(done) {
      bar?.update(done);
    },
    end() {
      bar?.stop();
      bar = undefined;
    },
  };
}
