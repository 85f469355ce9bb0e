// Preloaded by bench/speed.ts into the idprune process it measures (node --import): on exit, writes
// the process's peak resident memory in bytes to $SPEED_RSS_FILE. maxRSS is the kernel's high-water
// mark, exact whatever happens between samples.
import { writeFileSync } from 'node:fs';

const file = process.env.SPEED_RSS_FILE;
if (file) process.on('exit', () => writeFileSync(file, String(process.resourceUsage().maxRSS * 1024)));
