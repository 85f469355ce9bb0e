#!/usr/bin/env node
// Runs the compiled command: `npm run build` writes dist/ (npm install and npm pack run it through `prepare`).
import '../dist/cli/main.js';
