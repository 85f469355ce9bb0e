// npm test: every test file under node:test, then a last word on what could not run here.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';

const CHROMIUM = '/usr/bin/chromium';
// Test files given on the command line (npm test -- test/a.test.ts), else all of them.
const given = process.argv.slice(2);
const files =
  given.length > 0
    ? given
    : readdirSync('test')
        .filter((f) => f.endsWith('.test.ts'))
        .sort()
        .map((f) => `test/${f}`);
const { status, signal } = spawnSync(process.execPath, ['--import', 'tsx', '--test', ...files], { stdio: 'inherit' });
if (!existsSync(CHROMIUM)) {
  console.log(
    `\nnote: the HTML report's browser tests were SKIPPED: no Chromium at ${CHROMIUM}. ` +
      'Install it (apt-get install chromium) and run npm test again to include them.',
  );
}
process.exit(status ?? (signal ? 1 : 0));
